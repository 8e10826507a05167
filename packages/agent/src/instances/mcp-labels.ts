// An instance's MCP settings travel on its container's labels too, so an
// instance adopted without its store record (a lost data dir) is still known
// as the MCP server it is. None of them is secret (the deploy's mcpAuth is
// not among them: it lives in the store only).
import type { McpSettings } from '@dtma/contract'
import { InstanceLabel } from '../runtime/labels.ts'

export function mcpLabels(mcp: McpSettings | undefined): Record<string, string> {
  if (mcp === undefined) return {}
  return {
    [InstanceLabel.mcpTransport]: mcp.transport,
    [InstanceLabel.mcpEndpoint]: mcp.endpoint,
    ...(mcp.port !== null && { [InstanceLabel.mcpPort]: String(mcp.port) }),
    [InstanceLabel.mcpCapabilities]: mcp.capabilities.join(','),
    ...(mcp.host !== undefined && { [InstanceLabel.mcpHost]: mcp.host })
  }
}

export function mcpFromLabels(labels: Record<string, string>): McpSettings | undefined {
  const transport = labels[InstanceLabel.mcpTransport]
  if (transport !== 'stdio' && transport !== 'http' && transport !== 'sse') return undefined
  const port = Number(labels[InstanceLabel.mcpPort])
  const capabilities = labels[InstanceLabel.mcpCapabilities] ?? ''
  return {
    transport,
    endpoint: labels[InstanceLabel.mcpEndpoint] ?? '/mcp',
    port: Number.isInteger(port) && port > 0 ? port : null,
    capabilities: capabilities === '' ? [] : capabilities.split(','),
    ...(labels[InstanceLabel.mcpHost] !== undefined && { host: labels[InstanceLabel.mcpHost] })
  }
}
