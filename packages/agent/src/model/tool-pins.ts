// The approved definitions of an instance's tools (the drift lock's pins):
// what the MCP side compares every listing with, and where it keeps them.
// A leaf: the store implements PinStore, the MCP side uses it, compose
// hands one to the other.

/** One tool's approved definition: its fingerprint and what it covers, for showing what changed. */
export interface ToolPin {
  fingerprint: string
  definition: Record<string, unknown>
  /** ISO 8601 */
  pinnedAt: string
}

/** The pins of one instance, by tool name. */
export type PinSet = Map<string, ToolPin>

/** Durable pins per instance (keyed by the instance's account_tool_instance_id: a redeploy of the same instance keeps them). */
export interface PinStore {
  /** undefined: the instance was never pinned (its first listing pins it). */
  read(instanceId: string): PinSet | undefined
  /** Replaces the pins of these tools; `removed` loses its pins. */
  write(instanceId: string, pins: ReadonlyMap<string, ToolPin>, removed?: readonly string[]): void
}
