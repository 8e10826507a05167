// The VM's own numbers for /status, /system and heartbeats: the union of
// what every reader uses (the backend, the DTMA console, the health monitor).
import { readFileSync, statfsSync } from 'node:fs'
import os from 'node:os'
import type { SystemMetrics } from '@dtma/contract'

/** The root filesystem: where Docker keeps images and containers on a toolbox. */
const DISK_MOUNT = '/'

/** Linux's "Active" memory (recently used pages), the figure `free`-style
 *  tools chart; memory in use when /proc/meminfo cannot be read. */
function activeBytes(usedBytes: number): number {
  try {
    const match = /^Active:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'))
    return match ? Number(match[1]) * 1024 : usedBytes
  } catch {
    return usedBytes
  }
}

function disk(): SystemMetrics['disk'] {
  const stats = statfsSync(DISK_MOUNT)
  const total = stats.blocks * stats.bsize
  return { mount: DISK_MOUNT, total_bytes: total, used_bytes: total - stats.bfree * stats.bsize, free_bytes: stats.bavail * stats.bsize }
}

export function readSystemMetrics(): SystemMetrics {
  const loadAverage = os.loadavg()
  const total = os.totalmem()
  const free = os.freemem()
  const cpuCount = Math.max(1, os.cpus().length)
  return {
    cpu_load_percent: Math.min(100, Math.round(((loadAverage[0] ?? 0) / cpuCount) * 1000) / 10),
    load_average: loadAverage,
    memory: { total_bytes: total, free_bytes: free, used_bytes: total - free, active_bytes: activeBytes(total - free) },
    disk: disk(),
    uptime_seconds: Math.floor(os.uptime())
  }
}
