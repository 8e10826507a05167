// The heartbeat body (@dtma/contract HeartbeatBody): agent version, the VM's
// numbers, the certificate it serves HTTPS with, and every instance's status as a value of the backend's
// account_tool_installation_status_enum, never a raw Docker state.
import { portMapping, statusOnToolbox, type HeartbeatBody } from '@dtma/contract'
import { mcpInfo } from '../instances/mcp-info.ts'
import type { InstanceView } from '../instances/view.ts'
import { readSystemMetrics } from '../system/system-metrics.ts'
import type { TlsMaterial } from '../tls/certificate.ts'

export function heartbeatPayload(version: string, views: readonly InstanceView[], tls?: TlsMaterial): HeartbeatBody {
  return {
    // The certificate served now: a new one reaches the backend with the next beat.
    ...(tls !== undefined && { tls_fingerprint_sha256: tls.fingerprint, tls_certificate_pem: tls.cert }),
    dtma_version: version,
    system_status: readSystemMetrics(),
    // An instance without an account_tool_instance_id (adopted without the label) is not the backend's.
    tool_statuses: views
      .filter((view) => view.accountToolInstanceId !== '')
      .map((view) => ({
        account_tool_instance_id: view.accountToolInstanceId,
        instance_name_on_toolbox: view.instanceName,
        status_on_toolbox: statusOnToolbox(view.status),
        runtime: {
          container_id: view.containerId,
          image: view.image,
          created_at: new Date(view.created * 1000).toISOString(),
          docker_status: view.dockerState,
          ports: view.ports.map(portMapping)
        },
        mcp: mcpInfo(view)
      }))
  }
}
