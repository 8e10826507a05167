// What the agent last saw of an instance's MCP server: written by the MCP
// side (its health monitor), read into the instance's published view, so
// every reporter (routes, events, heartbeat, registry) carries it without a
// read of its own. A leaf.
import type { McpStatus, ToolChange } from '@dtma/contract'

/** The drift lock's last detection: the tools whose definitions differ from their pins (names only). */
export interface DriftNews {
  tools: ToolChange[]
  /** auto: pinned at once (the deploy's drift auto-approve, or new tools admitted); null: withheld until approved. */
  approved: 'auto' | null
  /** ISO 8601 */
  detectedAt: string
}

export interface McpHealth {
  status: McpStatus
  protocolVersion: string | null
  serverInfo: { name: string; version: string; [key: string]: unknown } | null
  /** The capability names of its initialize answer. */
  serverCapabilities: string[] | null
  lastPingMs: number | null
  toolsCount: number | null
  toolsFingerprint: string | null
  /** ISO 8601: when it last answered. */
  checkedAt: string | null
  lastError: string | null
  /** The tools as last listed (the registry mirrors them); null before the first list. */
  tools: Array<Record<string, unknown>> | null
  /** The tools the drift lock withholds from callers (mcp/drift-lock.ts). */
  withheld: ToolChange[]
  /** Its last detection; null: none since the agent started. */
  drift: DriftNews | null
}

/** Where the domain reads the health of an instance's MCP server from. */
export interface McpHealthSource {
  health(instanceName: string): McpHealth | undefined
}
