// The heartbeat body of dtma-contract.md: agent version, the VM's numbers and
// every instance's status as a value of the backend's
// account_tool_installation_status_enum, never a raw Docker state.
import { statfsSync } from 'node:fs'
import { statusOnToolbox, type StatusOnToolbox, type ToolInstance } from '@dtma/contract'
import { readSystemMetrics } from '../system/system-metrics.ts'

export interface HeartbeatPayload {
  dtma_version: string
  system_status: {
    cpu_load_percent: number
    memory: { total_bytes: number; active_bytes: number; free_bytes: number; used_bytes: number }
    disk: { mount: '/'; total_bytes: number; used_bytes: number; free_bytes: number }
    uptime_seconds: number
  }
  tool_statuses: Array<{
    account_tool_instance_id: string
    status_on_toolbox: StatusOnToolbox
    runtime_details: { container_id: string; image: string; started_at: string; docker_status: string }
  }>
}

function disk(): HeartbeatPayload['system_status']['disk'] {
  const stats = statfsSync('/')
  const total = stats.blocks * stats.bsize
  return { mount: '/', total_bytes: total, used_bytes: total - stats.bfree * stats.bsize, free_bytes: stats.bavail * stats.bsize }
}

export function heartbeatPayload(version: string, instances: ToolInstance[]): HeartbeatPayload {
  const system = readSystemMetrics()
  return {
    dtma_version: version,
    system_status: {
      cpu_load_percent: system.cpu_load_percent,
      // Node reports no separate "active" figure; memory in use is the closest.
      memory: { ...system.memory, active_bytes: system.memory.used_bytes },
      disk: disk(),
      uptime_seconds: system.uptime_seconds
    },
    // An instance without an account_tool_instance_id (adopted without the label) is not the backend's.
    tool_statuses: instances
      .filter((instance) => instance.account_tool_instance_id !== '')
      .map((instance) => ({
        account_tool_instance_id: instance.account_tool_instance_id,
        status_on_toolbox: statusOnToolbox(instance.status),
        runtime_details: {
          container_id: instance.container_id,
          image: instance.image,
          // The container's creation time: the agent's view holds no separate start time.
          started_at: new Date(instance.created * 1000).toISOString(),
          docker_status: instance.docker_status
        }
      }))
  }
}
