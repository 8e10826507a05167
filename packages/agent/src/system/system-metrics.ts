// The VM's own numbers for /status and heartbeats.
import os from 'node:os'
import type { SystemMetrics } from '@dtma/contract'

export function readSystemMetrics(): SystemMetrics {
  const loadAverage = os.loadavg()
  const total = os.totalmem()
  const free = os.freemem()
  const cpuCount = Math.max(1, os.cpus().length)
  return {
    cpu_load_percent: Math.min(100, Math.round(((loadAverage[0] ?? 0) / cpuCount) * 1000) / 10),
    load_average: loadAverage,
    memory: { total_bytes: total, free_bytes: free, used_bytes: total - free },
    uptime_seconds: Math.floor(os.uptime())
  }
}
