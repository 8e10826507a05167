// An instance's MCP server as the contract reports it (McpInfo): its settings,
// where callers reach it on the agent, and what the monitor last saw. One
// projection for every reader of the view: the routes, the heartbeat, the registry.
import { buildPath, routes, type McpInfo } from '@dtma/contract'
import type { InstanceView } from './view.ts'

export function mcpInfo(view: InstanceView): McpInfo | null {
  const mcp = view.mcp
  if (mcp === null) return null
  const { health } = mcp
  return {
    transport: mcp.transport,
    endpoint: mcp.endpoint,
    port: mcp.port,
    capabilities: mcp.capabilities,
    ...(mcp.host !== undefined && { host: mcp.host }),
    ...(mcp.drift !== undefined && { drift: mcp.drift }),
    url_path: buildPath(routes.mcpPost.path, { name: view.instanceName }),
    status: health.status,
    protocol_version: health.protocolVersion,
    server_info: health.serverInfo,
    server_capabilities: health.serverCapabilities,
    last_ping_ms: health.lastPingMs,
    tools_count: health.toolsCount,
    tools_fingerprint: health.toolsFingerprint,
    checked_at: health.checkedAt,
    last_error: health.lastError,
    ...(mcp.prefix !== '' && { gateway_prefix: mcp.prefix }),
    // Only when the drift lock withholds something: reports of a server in good standing are unchanged.
    ...(health.withheld.length > 0 && { tools_withheld: health.withheld })
  }
}
