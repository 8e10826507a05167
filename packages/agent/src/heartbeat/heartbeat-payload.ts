// The heartbeat body (@dtma/contract HeartbeatBody): agent version, the VM's
// numbers and every instance's status as a value of the backend's
// account_tool_installation_status_enum, never a raw Docker state.
import { statusOnToolbox, type HeartbeatBody, type ToolInstance } from '@dtma/contract'
import { readSystemMetrics } from '../system/system-metrics.ts'

export function heartbeatPayload(version: string, instances: readonly ToolInstance[]): HeartbeatBody {
  return {
    dtma_version: version,
    system_status: readSystemMetrics(),
    // An instance without an account_tool_instance_id (adopted without the label) is not the backend's.
    tool_statuses: instances
      .filter((instance) => instance.account_tool_instance_id !== '')
      .map((instance) => ({
        account_tool_instance_id: instance.account_tool_instance_id,
        instance_name_on_toolbox: instance.instance_name_on_toolbox,
        status_on_toolbox: statusOnToolbox(instance.status),
        runtime: {
          container_id: instance.container_id,
          image: instance.image,
          created_at: new Date(instance.created * 1000).toISOString(),
          docker_status: instance.docker_status,
          ports: instance.ports
        }
      }))
  }
}
