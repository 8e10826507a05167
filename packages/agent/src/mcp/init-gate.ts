// The initialize answer of a multiplexed server, and what waits for it. The
// agent is the server's one MCP client: its control session initializes the
// server once per process start, and every caller session's initialize is
// answered from that answer, never forwarded. Until the server is
// initialized, what caller sessions send waits here (bounded in number and
// time), then goes on in order.
import type { InitializeResult, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import type { MuxSession } from './mux-session.ts'

/** Messages of caller sessions waiting for the server's initialize, at most. */
const MAX_HELD = 1000

interface Held {
  session: MuxSession
  message: JSONRPCMessage
  at: number
}

export class InitGate {
  private result: InitializeResult | undefined
  private held: Held[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(
    /** How long a message may wait for the server's initialize. */
    private readonly waitMs: number,
    /** Sends a held message on once the server is initialized. */
    private readonly release: (session: MuxSession, message: JSONRPCMessage) => void,
    /** A held message that waited too long (or found no room). */
    private readonly expire: (session: MuxSession, message: JSONRPCMessage, reason: string) => void
  ) {}

  get answer(): InitializeResult | undefined {
    return this.result
  }

  /** The server's answer to the control session's initialize; releases what waits. */
  open(result: InitializeResult): void {
    this.result = result
    clearTimeout(this.timer)
    this.timer = undefined
    const held = this.held
    this.held = []
    for (const { session, message } of held) if (!session.isClosed) this.release(session, message)
  }

  /** A new server process: it must be initialized again. */
  shut(): void {
    this.result = undefined
  }

  /** Keeps a message until the server is initialized. */
  hold(session: MuxSession, message: JSONRPCMessage): void {
    if (this.held.length >= MAX_HELD) return this.expire(session, message, 'too many messages wait for the MCP server to start')
    this.held.push({ session, message, at: Date.now() })
    this.timer ??= setTimeout(() => this.sweep(), this.waitMs).unref()
  }

  /** Forgets what a closed session left waiting. */
  forget(session: MuxSession): void {
    this.held = this.held.filter((held) => held.session !== session)
  }

  private sweep(): void {
    this.timer = undefined
    const deadline = Date.now() - this.waitMs
    const expired = this.held.filter((held) => held.at <= deadline)
    this.held = this.held.filter((held) => held.at > deadline)
    for (const { session, message } of expired) this.expire(session, message, `the MCP server did not finish starting within ${Math.round(this.waitMs / 1000)} s`)
    const next = this.held[0]
    if (next !== undefined) this.timer = setTimeout(() => this.sweep(), Math.max(10, next.at + this.waitMs - Date.now())).unref()
  }
}
