// An instance's MCP server, as DTMA reports it in /status, into the columns
// Agentopia reads in account_tool_instances: the transport, the path callers
// reach it at on the agent's port, the capabilities its server announced,
// and DTMA's findings under `dtma` in mcp_discovery_metadata (dtma_refresh_toolbox
// merges them into what the backend wrote there, which is kept). An earlier
// agent reports less, or nothing: only what it reports is written, so nothing
// the backend wrote is erased.
import type { McpInfo } from '../../../packages/contract/src/index.ts'
import type { Database, Json } from './database.ts'

type InstanceUpdate = Database['public']['Tables']['account_tool_instances']['Update']

export function mcpColumns(mcp: Partial<McpInfo> | null | undefined, checkedAt: string): InstanceUpdate {
  if (mcp == null || (mcp.transport !== 'stdio' && mcp.transport !== 'http' && mcp.transport !== 'sse')) return {}
  const found = {
    status: mcp.status ?? null,
    protocol_version: mcp.protocol_version ?? null,
    server_info: mcp.server_info ?? null,
    tools_count: mcp.tools_count ?? null,
    tools_fingerprint: mcp.tools_fingerprint ?? null,
    last_ping_ms: mcp.last_ping_ms ?? null,
    checked_at: mcp.checked_at ?? null,
    last_error: mcp.last_error ?? null,
    refreshed_at: checkedAt
  }
  return {
    mcp_transport_type: mcp.transport,
    ...(typeof mcp.url_path === 'string' && { mcp_endpoint_path: mcp.url_path }),
    ...(Array.isArray(mcp.server_capabilities) && { mcp_server_capabilities: mcp.server_capabilities }),
    mcp_discovery_metadata: { dtma: found } as Json
  }
}
