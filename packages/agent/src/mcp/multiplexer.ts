// Many MCP client sessions over one link to a server that has one client
// (a stdio server's attach, a legacy SSE connection). Correctness rests on
// rewriting: every request of a session gets a link-unique id, mapped back
// to (session, its own id) when the answer comes; progress tokens and
// cancellations are rewritten the same way; a request of the server
// (sampling, elicitation, ...) goes to the session with the most recent
// request in flight, under an id of the agent's, and its answer is mapped
// back; the server's ping is answered here; notifications that name no
// request go to every session. A session's requests in flight are bounded;
// when it closes they are cancelled and late answers are dropped. See
// init-gate.ts for initialize.
import { ErrorCode, type InitializeResult, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js'
import { InitGate } from './init-gate.ts'
import type { MessageLink } from './link.ts'
import { MuxSession, type SessionHost } from './mux-session.ts'

export interface MuxObserver {
  message(direction: 'to-server' | 'to-client'): void
}

export interface MultiplexerOptions {
  /** Requests in flight per session; more are answered with an error at once. */
  maxInFlight: number
  /** How long a session's message may wait for the server to be initialized. */
  initializeWaitMs: number
  observer: MuxObserver
}

type Message = Record<string, unknown> & { jsonrpc: '2.0'; id?: RequestId; method?: string; params?: Record<string, unknown> }

interface InFlight {
  session: MuxSession
  id: RequestId
  /** The progress token the session chose, under the link's token `p<link id>`. */
  progressToken?: string | number
  initialize: boolean
}

const PREFIX = 'dtma-'

export class Multiplexer implements SessionHost {
  private nextId = 1
  private readonly inFlight = new Map<number, InFlight>()
  /** The server's requests, by the id a session sees. */
  private readonly serverRequests = new Map<string, { session: MuxSession; serverId: RequestId }>()
  private readonly sessions = new Set<MuxSession>()
  private readonly gate: InitGate

  constructor(
    private readonly link: MessageLink,
    private readonly options: MultiplexerOptions
  ) {
    this.gate = new InitGate(
      options.initializeWaitMs,
      (session, message) => this.forward(session, message as Message),
      (session, message, reason) => this.refuse(session, message as Message, reason)
    )
  }

  /** Open caller sessions (the agent's own is not counted). */
  get sessionCount(): number {
    let count = 0
    for (const session of this.sessions) if (!session.control) count += 1
    return count
  }

  openSession(control = false): MuxSession {
    const session = new MuxSession(this, control)
    this.sessions.add(session)
    return session
  }

  /** Ends every session (the server behind the link is gone for good). */
  closeAll(): void {
    for (const session of [...this.sessions]) session.close()
  }

  // ---- from the link --------------------------------------------------------------

  linkUp(fresh: boolean): void {
    if (fresh) this.gate.shut()
  }

  /** Nothing in flight will be answered: every waiting session is told. */
  linkDown(reason: string): void {
    const inFlight = [...this.inFlight.values()]
    this.inFlight.clear()
    this.serverRequests.clear()
    for (const entry of inFlight) {
      entry.session.inFlight.delete(entry.id)
      this.error(entry.session, entry.id, ErrorCode.ConnectionClosed, `the connection to the MCP server was lost: ${reason}`)
    }
  }

  fromLink(raw: JSONRPCMessage): void {
    const message = raw as Message
    if (message.method === undefined) return this.serverAnswered(message)
    if (message.id !== undefined) return this.serverAsked(message)
    this.serverNotified(message)
  }

  private serverAnswered(message: Message): void {
    const linkId = typeof message.id === 'number' ? message.id : Number(message.id)
    const entry = this.inFlight.get(linkId)
    // A late answer (its session is gone, or it was cancelled): dropped.
    if (entry === undefined) return
    this.inFlight.delete(linkId)
    entry.session.inFlight.delete(entry.id)
    if (entry.initialize && message.result !== undefined) this.gate.open(message.result as InitializeResult)
    this.toSession(entry.session, { ...message, id: entry.id }, entry.id)
  }

  private serverAsked(message: Message): void {
    if (message.method === 'ping') return void this.toLink({ jsonrpc: '2.0', id: message.id as RequestId, result: {} })
    // The session that asked last is the one the server is working for.
    const target = [...this.inFlight.values()].reverse().find((entry) => !entry.session.control)
    if (target === undefined) {
      return void this.toLink({ jsonrpc: '2.0', id: message.id as RequestId, error: { code: ErrorCode.InvalidRequest, message: 'no client session is waiting on this server' } })
    }
    const visibleId = `${PREFIX}${this.nextId++}`
    this.serverRequests.set(visibleId, { session: target.session, serverId: message.id as RequestId })
    this.toSession(target.session, { ...message, id: visibleId }, target.id)
  }

  private serverNotified(message: Message): void {
    const params = message.params ?? {}
    if (message.method === 'notifications/progress') {
      const entry = this.inFlight.get(linkIdOfToken(params.progressToken))
      if (entry?.progressToken !== undefined) this.toSession(entry.session, { ...message, params: { ...params, progressToken: entry.progressToken } }, entry.id)
      return
    }
    if (message.method === 'notifications/cancelled') {
      const visible = [...this.serverRequests].find(([, request]) => request.serverId === params.requestId)
      if (visible === undefined) return
      this.serverRequests.delete(visible[0])
      return this.toSession(visible[1].session, { ...message, params: { ...params, requestId: visible[0] } })
    }
    for (const session of this.sessions) this.toSession(session, message)
  }

  // ---- from the sessions -------------------------------------------------------------

  fromSession(session: MuxSession, raw: JSONRPCMessage): void {
    const message = raw as Message
    if (!session.control) {
      if (message.method === 'initialize' && message.id !== undefined) return this.answerInitialize(session, message.id)
      if (message.method === 'notifications/initialized') return
      if (this.gate.answer === undefined) return this.gate.hold(session, raw)
    }
    this.forward(session, message)
  }

  closeSession(session: MuxSession): void {
    this.sessions.delete(session)
    this.gate.forget(session)
    for (const [id, linkId] of session.inFlight) {
      this.inFlight.delete(linkId)
      this.toLink({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: linkId, reason: 'the client session ended' } })
      session.inFlight.delete(id)
    }
    for (const [visibleId, request] of this.serverRequests) {
      if (request.session !== session) continue
      this.serverRequests.delete(visibleId)
      this.toLink({ jsonrpc: '2.0', id: request.serverId, error: { code: ErrorCode.ConnectionClosed, message: 'the client session ended' } })
    }
  }

  private answerInitialize(session: MuxSession, id: RequestId): void {
    const answer = this.gate.answer
    if (answer === undefined) return this.gate.hold(session, { jsonrpc: '2.0', id, method: 'initialize' })
    this.toSession(session, { jsonrpc: '2.0', id, result: answer }, id)
  }

  private forward(session: MuxSession, message: Message): void {
    if (session.isClosed) return
    if (message.method === 'initialize' && !session.control) return this.answerInitialize(session, message.id as RequestId)
    if (message.method === undefined) return this.sessionAnswered(session, message)
    if (message.id === undefined) return this.sessionNotified(session, message)
    if (session.inFlight.size >= this.options.maxInFlight) return this.refuse(session, message, `more than ${this.options.maxInFlight} requests of this session are in flight`)
    const linkId = this.nextId++
    const meta = message.params?._meta as Record<string, unknown> | undefined
    const progressToken = meta?.progressToken as string | number | undefined
    const params = progressToken === undefined ? message.params : { ...message.params, _meta: { ...meta, progressToken: `p${linkId}` } }
    const entry: InFlight = { session, id: message.id, initialize: message.method === 'initialize', ...(progressToken !== undefined && { progressToken }) }
    this.inFlight.set(linkId, entry)
    session.inFlight.set(message.id, linkId)
    if (!this.toLink({ ...message, id: linkId, ...(params !== undefined && { params }) })) {
      this.inFlight.delete(linkId)
      session.inFlight.delete(message.id)
      this.refuse(session, message, this.link.isUp ? 'the MCP server does not read what it is sent' : 'the MCP server is not connected')
    }
  }

  private sessionAnswered(session: MuxSession, message: Message): void {
    const request = typeof message.id === 'string' ? this.serverRequests.get(message.id) : undefined
    if (request === undefined || request.session !== session) return
    this.serverRequests.delete(message.id as string)
    this.toLink({ ...message, id: request.serverId })
  }

  private sessionNotified(session: MuxSession, message: Message): void {
    if (message.method === 'notifications/cancelled') {
      const cancelled = message.params?.requestId as RequestId | undefined
      const linkId = cancelled === undefined ? undefined : session.inFlight.get(cancelled)
      if (linkId === undefined) return
      this.inFlight.delete(linkId)
      session.inFlight.delete(cancelled as RequestId)
      return void this.toLink({ ...message, params: { ...message.params, requestId: linkId } })
    }
    this.toLink(message)
  }

  // ---- delivery --------------------------------------------------------------------

  private refuse(session: MuxSession, message: Message, reason: string): void {
    if (message.method !== undefined && message.id !== undefined) this.error(session, message.id, ErrorCode.InternalError, reason)
  }

  private error(session: MuxSession, id: RequestId, code: number, message: string): void {
    this.toSession(session, { jsonrpc: '2.0', id, error: { code, message } }, id)
  }

  private toSession(session: MuxSession, message: Message, relatedRequestId?: RequestId): void {
    this.options.observer.message('to-client')
    session.deliver(message as JSONRPCMessage, relatedRequestId)
  }

  private toLink(message: Message): boolean {
    this.options.observer.message('to-server')
    return this.link.send(message as JSONRPCMessage)
  }
}

/** The link id inside a rewritten progress token `p<link id>`. */
function linkIdOfToken(token: unknown): number {
  return typeof token === 'string' && token.startsWith('p') ? Number(token.slice(1)) : Number.NaN
}
