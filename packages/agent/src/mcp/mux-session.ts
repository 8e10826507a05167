// One client session of a multiplexed MCP server, as its caller sees it: the
// caller sends JSON-RPC messages in and gets the server's messages for it
// out, with the id of the caller's request each one belongs to. The route's
// Streamable HTTP transport, and the agent's own health monitor ("session 0",
// the control session), are both callers of this shape.
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js'
import type { SessionTerms } from './session-terms.ts'

export interface SessionPipe {
  /** Caller -> server. */
  send(message: JSONRPCMessage): void
  /** Server -> caller; relatedRequestId: the caller's request the message belongs to. */
  onmessage?: (message: JSONRPCMessage, relatedRequestId?: RequestId) => void
  /** The session ended (closed by the caller, or by the agent). */
  onclose?: () => void
  close(): void
}

export interface SessionHost {
  fromSession(session: MuxSession, message: JSONRPCMessage): void
  closeSession(session: MuxSession): void
}

export class MuxSession implements SessionPipe {
  onmessage?: (message: JSONRPCMessage, relatedRequestId?: RequestId) => void
  onclose?: () => void
  /** The caller's id -> the link's id, of its requests in flight. */
  readonly inFlight = new Map<RequestId, number>()
  /** What its initialize declared and was given (none yet, or the control session). */
  terms: SessionTerms | undefined
  /** The log level it asked for (logging/setLevel); none: every log message of the server. */
  logLevel: string | undefined
  /** The resources it subscribed to: their updates are its own. */
  readonly subscriptions = new Set<string>()
  private closed = false

  constructor(
    private readonly host: SessionHost,
    /** The agent's own session: its initialize goes to the server. */
    readonly control: boolean
  ) {}

  get isClosed(): boolean {
    return this.closed
  }

  send(message: JSONRPCMessage): void {
    if (!this.closed) this.host.fromSession(this, message)
  }

  deliver(message: JSONRPCMessage, relatedRequestId?: RequestId): void {
    if (!this.closed) this.onmessage?.(message, relatedRequestId)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.host.closeSession(this)
    this.onclose?.()
  }
}
