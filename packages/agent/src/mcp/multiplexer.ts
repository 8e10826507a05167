// Many MCP client sessions over one link to a server that has one client
// (a stdio server's attach, a legacy SSE connection). Correctness rests on
// rewriting: every request of a session gets a link-unique id, mapped back
// to (session, its own id) when the answer comes; progress tokens and
// cancellations are rewritten the same way. Each session is served the
// protocol version it asked for (protocol-version.ts: results pass as the
// server wrote them; methods its version does not know are not sent). A request of the server (sampling, elicitation,
// roots) goes, under an id of the agent's, to a session that declared it can
// answer (session-terms.ts), the waiting one first; with none, the server is
// refused at once. The server's ping is answered here. Notifications that
// belong to a session go to it only: progress (by token), log messages (by
// the level it asked for; the server is asked for the most verbose),
// resource updates (to the subscribed); others to every session whose
// version knows them (the agent's own session: list_changed only). A session's requests in flight are bounded; when it
// closes they are cancelled and late answers are dropped. See init-gate.ts.
import { ErrorCode, type ClientCapabilities, type InitializeResult, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js'
import { InitGate } from './init-gate.ts'
import type { MessageLink } from './link.ts'
import { MuxSession, type SessionHost } from './mux-session.ts'
import { knowsMethod, negotiateVersion } from './protocol-version.ts'
import { answererOf, logSeverity, serverLogLevel } from './session-terms.ts'

/** How the answer to a request the server never answered (its link went down) begins (the audit says lost). */
export const LINK_LOST = 'the connection to the MCP server was lost'

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
type Request = Message & { id: RequestId; method: string }

interface InFlight {
  session: MuxSession
  id: RequestId
  method: string
  /** The progress token the session chose, under the link's token `p<link id>`. */
  progressToken?: string | number
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
      this.error(entry.session, entry.id, ErrorCode.ConnectionClosed, `${LINK_LOST}: ${reason}`)
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
    if (entry.method === 'initialize' && message.result !== undefined) this.gate.open(message.result as InitializeResult)
    this.toSession(entry.session, { ...message, id: entry.id }, entry.id)
  }

  private serverAsked(message: Message): void {
    if (message.method === 'ping') return void this.toLink({ jsonrpc: '2.0', id: message.id as RequestId, result: {} })
    // The server works for the callers waiting on it (the one that asked last first); with none waiting, it asks of its own accord.
    const callers = [...this.inFlight.values()].reverse().filter((entry) => !entry.session.control)
    const target = answererOf(callers, [...this.sessions].reverse(), message.method as string, message.params)
    if (target === undefined) {
      const error = { code: ErrorCode.MethodNotFound, message: `no client session that can answer ${message.method} is connected to this server` }
      return void this.toLink({ jsonrpc: '2.0', id: message.id as RequestId, error })
    }
    const visibleId = `${PREFIX}${this.nextId++}`
    this.serverRequests.set(visibleId, { session: target.session, serverId: message.id as RequestId })
    this.toSession(target.session, { ...message, id: visibleId }, target.related)
  }

  private serverNotified(message: Message): void {
    const params = message.params ?? {}
    if (message.method === 'notifications/progress') {
      const entry = this.inFlight.get(linkIdOfToken(params.progressToken))
      if (entry?.progressToken === undefined) return
      return this.toSession(entry.session, { ...message, params: { ...params, progressToken: entry.progressToken } }, entry.id)
    }
    if (message.method === 'notifications/cancelled') {
      const visible = [...this.serverRequests].find(([, request]) => request.serverId === params.requestId)
      if (visible === undefined) return
      this.serverRequests.delete(visible[0])
      return this.toSession(visible[1].session, { ...message, params: { ...params, requestId: visible[0] } })
    }
    for (const session of this.sessions) if (this.wants(session, message.method as string, params)) this.toSession(session, message)
  }

  /** Whether a notification of the server that names no request is the session's. */
  private wants(session: MuxSession, method: string, params: Record<string, unknown>): boolean {
    // The agent's own (its monitor's SDK client) needs list_changed only: it would check log chatter against schemas, for nothing.
    if (session.control) return method.endsWith('/list_changed')
    if (session.terms !== undefined && !knowsMethod(session.terms.protocolVersion, method)) return false
    if (method === 'notifications/message') return session.logLevel === undefined || logSeverity(params.level) >= logSeverity(session.logLevel)
    if (method === 'notifications/resources/updated') return session.subscriptions.has(String(params.uri))
    return true
  }

  // ---- from the sessions -------------------------------------------------------------

  fromSession(session: MuxSession, raw: JSONRPCMessage): void {
    const message = raw as Message
    if (!session.control) {
      if (message.method === 'initialize' && message.id !== undefined) return this.answerInitialize(session, message)
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
    // What only it asked for, the server need not send any more.
    for (const uri of session.subscriptions) if (!this.subscribed(uri)) this.ownRequest('resources/unsubscribe', { uri })
    const level = serverLogLevel([...this.sessions].map((other) => other.logLevel))
    if (session.logLevel !== undefined && level !== undefined && logSeverity(level) > logSeverity(session.logLevel)) this.ownRequest('logging/setLevel', { level })
  }

  /** A request of the agent's own to the server: its answer is dropped (no request in flight has its id). */
  private ownRequest(method: string, params: Record<string, unknown>): void {
    this.toLink({ jsonrpc: '2.0', id: `${PREFIX}${this.nextId++}`, method, params })
  }

  /** Served from the server's one answer, at the version the session can be served. */
  private answerInitialize(session: MuxSession, message: Message): void {
    const answer = this.gate.answer
    if (answer === undefined) return this.gate.hold(session, message as JSONRPCMessage)
    const params = message.params ?? {}
    const protocolVersion = negotiateVersion(params.protocolVersion, answer.protocolVersion)
    session.terms = { protocolVersion, capabilities: (params.capabilities ?? {}) as ClientCapabilities }
    const id = message.id as RequestId
    this.toSession(session, { jsonrpc: '2.0', id, result: { ...answer, protocolVersion } }, id)
  }

  private subscribed(uri: string): boolean {
    for (const session of this.sessions) if (session.subscriptions.has(uri)) return true
    return false
  }

  /** A session's request about what it is sent: its log level, its subscriptions. Returns the request to forward, or none when answered here. */
  private interest(session: MuxSession, message: Request): Request | undefined {
    const params = message.params ?? {}
    if (message.method === 'logging/setLevel' && typeof params.level === 'string') {
      session.logLevel = params.level
      return { ...message, params: { ...params, level: serverLogLevel([...this.sessions].map((other) => other.logLevel)) } }
    }
    if (message.method === 'resources/subscribe' && typeof params.uri === 'string') session.subscriptions.add(params.uri)
    if (message.method === 'resources/unsubscribe' && typeof params.uri === 'string') {
      session.subscriptions.delete(params.uri)
      // Another session still wants its updates: the server keeps sending them.
      if (this.subscribed(params.uri)) return void this.toSession(session, { jsonrpc: '2.0', id: message.id, result: {} }, message.id)
    }
    return message
  }

  private forward(session: MuxSession, message: Message): void {
    if (session.isClosed) return
    if (message.method === 'initialize' && !session.control) return this.answerInitialize(session, message)
    if (message.method === undefined) return this.sessionAnswered(session, message)
    if (message.id === undefined) return this.sessionNotified(session, message)
    if (session.inFlight.size >= this.options.maxInFlight) return this.refuse(session, message, `more than ${this.options.maxInFlight} requests of this session are in flight`)
    const request = session.control ? (message as Request) : this.interest(session, message as Request)
    if (request !== undefined) this.request(session, request)
  }

  private request(session: MuxSession, message: Request): void {
    const linkId = this.nextId++
    const meta = message.params?._meta as Record<string, unknown> | undefined
    const progressToken = meta?.progressToken as string | number | undefined
    const params = progressToken === undefined ? message.params : { ...message.params, _meta: { ...meta, progressToken: `p${linkId}` } }
    const entry: InFlight = { session, id: message.id, method: message.method, ...(progressToken !== undefined && { progressToken }) }
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
