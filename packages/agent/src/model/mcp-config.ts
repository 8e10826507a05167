// The settings of the MCP side, read by config.ts and taken by the MCP
// service: stated once, in a leaf both may import.
/** The MCP side: protocol health of every MCP instance, and its endpoint on the agent's port. */
export interface McpConfig {
  pingIntervalMs: number
  /** Failed pings in a row that make a server unresponsive (its container is then restarted). */
  pingFailures: number
  /** How long a server may take to answer initialize after its container starts; also what waitForMcp waits at most. */
  startTimeoutMs: number
  /** Longest wait before restarting an unresponsive server again (the wait doubles from 2 s). */
  restartBackoffMaxMs: number
  /** Largest MCP message taken from a server; a longer line is dropped. */
  maxMessageBytes: number
  /** Open MCP sessions of all instances together; more are refused with a 503. */
  maxSessions: number
  /** A session nobody used for this long is ended. */
  sessionIdleMs: number
  /** Origin headers accepted on the MCP endpoint ('*': any); a request without Origin is always accepted. */
  allowedOrigins: string[]
  /** The drift lock pins tools that appear after approval instead of withholding them (DTMA_MCP_ADMIT_NEW_TOOLS). */
  admitNewTools: boolean
}
