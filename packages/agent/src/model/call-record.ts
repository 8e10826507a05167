// One MCP call a caller made through the agent, as the MCP side tells the
// audit trail (a leaf: mcp/ writes it, audit/ keeps it). The arguments are
// never in it: only the SHA-256 of their canonical JSON.
export type AuditedMethod = 'tools/call' | 'resources/read' | 'prompts/get'

/** ok; tool-error: result.isError; protocol-error: a JSON-RPC error of the server (or the agent's
 *  way to it); refused: the agent answered it without the server (reason says why); lost: no answer
 *  came (the session closed, the server died or went away). */
export type CallOutcome = 'ok' | 'tool-error' | 'protocol-error' | 'refused' | 'lost'

export interface CallRecord {
  /** Unix milliseconds when the request reached the agent. */
  at: number
  instanceName: string
  /** The token's subject, or "fleet key", or "anonymous" (no credential check). */
  caller: string
  method: AuditedMethod
  /** The tool's name, the resource's URI or the prompt's name (bounded; "" when the request named none). */
  target: string
  /** Whether the server's last listing named it (a tool, resource or prompt it showed). */
  listed: boolean
  /** SHA-256 (hex) of the canonical JSON of the request's arguments (the params but the name/URI). */
  argsSha256: string
  durationMs: number
  outcome: CallOutcome
  /** A protocol error's JSON-RPC code. */
  errorCode?: number
  /** Why it was refused or lost: DTMA's code (DTMA_TOOL_NOT_GRANTED, ...) or a short sentence; never a value of the call. */
  reason?: string
}

export interface CallRecorder {
  record(call: CallRecord): void
}
