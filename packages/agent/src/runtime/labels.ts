// Ownership is marked on the container itself, under one prefix. A container
// without the managed label is not DTMA's and is never touched.
export const LABEL_PREFIX = 'dtma.'
export const MANAGED_LABEL = `${LABEL_PREFIX}managed`
/** Which agent manages the container, when several share one Docker engine
 *  (a blue/green upgrade, or tests running side by side). */
export const SCOPE_LABEL = `${LABEL_PREFIX}scope`

/** Label filters that select exactly the containers of one agent scope. */
export function managedFilters(scope: string): string[] {
  return [`${MANAGED_LABEL}=true`, `${SCOPE_LABEL}=${scope}`]
}

export const InstanceLabel = {
  instanceName: `${LABEL_PREFIX}instance-name`,
  accountToolInstanceId: `${LABEL_PREFIX}account-tool-instance-id`,
  /** sha256 of the normalized spec: same hash, same deploy. */
  specHash: `${LABEL_PREFIX}spec-hash`,
  /** How the instance's MCP server is reached (absent: not an MCP server). */
  mcpTransport: `${LABEL_PREFIX}mcp-transport`,
  mcpEndpoint: `${LABEL_PREFIX}mcp-endpoint`,
  mcpPort: `${LABEL_PREFIX}mcp-port`,
  mcpCapabilities: `${LABEL_PREFIX}mcp-capabilities`,
  mcpHost: `${LABEL_PREFIX}mcp-host`,
  /** Made from an earlier agent's container of this name, before any deploy named it. */
  takenOverFrom: `${LABEL_PREFIX}taken-over-from`
} as const
