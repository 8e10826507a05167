// One dtma_container_registry row from the agent's view of an instance.
// Env KEYS only: values are secrets and never leave the VM. The row's shape
// is the contract's (the registry function validates it against the same schema).
import type { RegistryRow } from '@dtma/contract'
import { mcpInfo } from '../instances/mcp-info.ts'
import type { InstanceView } from '../instances/view.ts'

export type { RegistryRow }

export function registryRow(view: InstanceView, environmentId: string | undefined, seenAt: Date): RegistryRow {
  const portBindings: RegistryRow['port_bindings'] = {}
  for (const port of view.ports) {
    const key = `${port.container_port}/${port.protocol}`
    ;(portBindings[key] ??= []).push({ HostIp: port.host_ip, HostPort: String(port.host_port) })
  }
  return {
    account_tool_instance_id: view.accountToolInstanceId,
    // Left out rather than null when unknown, so an upsert never erases what the backend wrote.
    ...(environmentId !== undefined && { account_tool_environment_id: environmentId }),
    container_name: view.containerName,
    instance_name_on_toolbox: view.instanceName,
    docker_image_url: view.image,
    container_id: view.containerId === '' ? null : view.containerId,
    dtma_status: view.status,
    docker_status: view.dockerState,
    port_bindings: portBindings,
    environment_variables: view.envKeys,
    last_seen_at: seenAt.toISOString(),
    egress: view.egress,
    ...mcpColumns(view)
  }
}

function mcpColumns(view: InstanceView): Pick<RegistryRow, `mcp_${string}` & keyof RegistryRow> {
  const mcp = mcpInfo(view)
  return {
    mcp_status: mcp?.status ?? null,
    mcp_transport: mcp?.transport ?? null,
    mcp_endpoint_path: mcp?.url_path ?? null,
    mcp_server_info: mcp?.server_info ?? null,
    mcp_tools: view.mcp?.health.tools ?? null,
    mcp_tools_fingerprint: mcp?.tools_fingerprint ?? null,
    mcp_checked_at: mcp?.checked_at ?? null,
    mcp_tools_withheld: view.mcp?.health.withheld ?? null
  }
}
