// The toolbox's aggregated MCP endpoint (/mcp), both eras on one path, with
// the official SDK v2: a 2026-07-28 request (its protocol version in _meta,
// no session; server/discover) is served by the SDK's per-request handler;
// a 2025 client (initialize) gets a session of its own, held here, bound to
// the grant that opened it, with a stream for list_changed. Each request is
// answered by an SDK server made for its caller (aggregate-server.ts). When
// a server comes, goes, becomes ready or not, or says its lists changed, the
// clients that see it are told (list_changed), once for a burst.
import { randomUUID } from 'node:crypto'
import { createMcpHandler, isLegacyRequest, WebStandardStreamableHTTPServerTransport, type McpHttpHandler, type Server } from '@modelcontextprotocol/server'
import { DtmaError } from '../errors.ts'
import type { McpApi } from '../mcp/mcp-api.ts'
import { aggregateServer } from './aggregate-server.ts'
import { Aggregator } from './aggregator.ts'
import type { GatewayApi, GatewayCaller } from './gateway-api.ts'
import { UpstreamPool } from './upstream-pool.ts'

export interface GatewayOptions {
  mcp: Pick<McpApi, 'endpoint' | 'listServers' | 'onServersChange'>
  version: string
  /** How long a server may take to answer before a listing leaves it out. */
  timeoutMs: number
  maxSessions: number
  idleMs: number
}

interface LegacySession {
  id: string
  caller: GatewayCaller
  server: Server
  transport: WebStandardStreamableHTTPServerTransport
  lastUsed: number
  streams: number
}

/** How long list_changed waits for more changes of the same burst. */
const NOTIFY_AFTER_MS = 50

export class GatewayService implements GatewayApi {
  private readonly pool: UpstreamPool
  private readonly aggregator: Aggregator
  private readonly modern: McpHttpHandler
  private readonly sessions = new Map<string, LegacySession>()
  /** Each server as last seen: its account instance id (whose callers to tell) and its state. */
  private known = new Map<string, { id: string; state: string }>()
  private pending = new Set<string>()
  private notifyTimer: NodeJS.Timeout | undefined
  private readonly sweeper: NodeJS.Timeout
  private unsubscribe: (() => void) | undefined

  constructor(private readonly options: GatewayOptions) {
    const { mcp, version, timeoutMs, idleMs } = options
    this.pool = new UpstreamPool(mcp, { version, timeoutMs, idleMs, maxClients: options.maxSessions, changed: (name) => this.changed([name]) })
    this.aggregator = new Aggregator(mcp, this.pool)
    const callerOf = (extra: Record<string, unknown> | undefined) => extra?.caller as GatewayCaller
    this.modern = createMcpHandler((context) => aggregateServer(this.aggregator, callerOf(context.authInfo?.extra), version), { legacy: 'reject', onerror: () => undefined })
    this.sweeper = setInterval(() => this.sweep(), Math.min(idleMs, 60_000))
    this.sweeper.unref()
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  start(): void {
    this.known = this.snapshot()
    this.unsubscribe = this.options.mcp.onServersChange(() => this.serversChanged())
  }

  async close(): Promise<void> {
    this.unsubscribe?.()
    clearInterval(this.sweeper)
    clearTimeout(this.notifyTimer)
    await Promise.all([...this.sessions.values()].map((session) => session.transport.close().catch(() => undefined)))
    await this.modern.close()
    this.pool.close()
  }

  async handle(request: Request, caller: GatewayCaller, parsedBody?: unknown): Promise<Response> {
    if (!(await isLegacyRequest(request, parsedBody))) {
      return this.modern.fetch(request, { parsedBody, authInfo: { token: '', clientId: 'dtma-gateway', scopes: [], extra: { caller } } })
    }
    const id = request.headers.get('mcp-session-id')
    if (id === null) {
      if (request.method !== 'POST' || !isInitialize(parsedBody)) throw new DtmaError('invalid', 'Mcp-Session-Id header is required (POST initialize first to open a session, or send MCP 2026-07-28 requests)')
      return this.open(caller, request, parsedBody)
    }
    const session = this.sessions.get(id)
    if (session === undefined) throw new DtmaError('mcp-session-not-found', 'MCP session not found (it ended, or the agent restarted): initialize a new one')
    if (session.caller.binding !== caller.binding) {
      throw new DtmaError('mcp-session-of-other-grant', 'this MCP session was opened with a credential that grants other instances or tools: initialize a session of your own')
    }
    session.lastUsed = Date.now()
    const response = await session.transport.handleRequest(request, { parsedBody })
    return request.method === 'GET' ? this.counted(session, response) : response
  }

  private async open(caller: GatewayCaller, request: Request, parsedBody: unknown): Promise<Response> {
    if (this.sessions.size >= this.options.maxSessions) {
      throw new DtmaError('mcp-unavailable', `too many MCP sessions are open (${this.options.maxSessions}): end one (DELETE) or try again later`, { retryAfterSeconds: 5 })
    }
    const server = aggregateServer(this.aggregator, caller, this.options.version)
    const session: LegacySession = { id: '', caller, server, transport: undefined as never, lastUsed: Date.now(), streams: 0 }
    session.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id
        this.sessions.set(id, session)
      }
    })
    session.transport.onclose = () => {
      if (this.sessions.get(session.id) === session) this.sessions.delete(session.id)
    }
    await server.connect(session.transport)
    const response = await session.transport.handleRequest(request, { parsedBody })
    // An initialize that got no session (refused) leaves nothing open.
    if (session.id === '') await session.transport.close().catch(() => undefined)
    return response
  }

  /** A GET stream counts as use of its session until it ends. */
  private counted(session: LegacySession, response: Response): Response {
    if (response.body === null || !response.ok) return response
    session.streams += 1
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      session.streams -= 1
      session.lastUsed = Date.now()
    }
    const reader = response.body.getReader()
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }))
        if (!done) return controller.enqueue(value)
        end()
        controller.close()
      },
      cancel(reason) {
        end()
        return reader.cancel(reason)
      }
    })
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers })
  }

  private snapshot(): Map<string, { id: string; state: string }> {
    return new Map(this.options.mcp.listServers().map((server) => [server.instanceName, { id: server.accountToolInstanceId, state: `${server.ready}|${server.revision}|${server.prefix}` }]))
  }

  private serversChanged(): void {
    const before = this.known
    this.known = this.snapshot()
    const changed = [...new Set([...before.keys(), ...this.known.keys()])].filter((name) => before.get(name)?.state !== this.known.get(name)?.state)
    for (const name of changed) this.pool.forget(name)
    for (const name of changed) if (!this.known.has(name)) this.gone.set(name, before.get(name)?.id ?? '')
    if (changed.length > 0) this.changed(changed)
  }

  /** Servers gone since the last notice: whose callers to tell. */
  private readonly gone = new Map<string, string>()

  private changed(names: string[]): void {
    for (const name of names) this.pending.add(name)
    this.notifyTimer ??= setTimeout(() => this.notify(), NOTIFY_AFTER_MS)
  }

  private notify(): void {
    this.notifyTimer = undefined
    const ids = [...this.pending].map((name) => this.known.get(name)?.id ?? this.gone.get(name) ?? '')
    this.pending.clear()
    this.gone.clear()
    for (const session of this.sessions.values()) {
      if (!ids.some((id) => session.caller.accessTo(id) !== undefined)) continue
      for (const send of [() => session.server.sendToolListChanged(), () => session.server.sendResourceListChanged(), () => session.server.sendPromptListChanged()]) {
        send().catch(() => undefined)
      }
    }
    this.modern.notify.toolsChanged()
    this.modern.notify.resourcesChanged()
    this.modern.notify.promptsChanged()
  }

  private sweep(): void {
    const idleSince = Date.now() - this.options.idleMs
    for (const session of this.sessions.values()) {
      if (session.streams === 0 && session.lastUsed < idleSince) void session.transport.close().catch(() => undefined)
    }
  }
}

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body]
  return messages.some((message) => (message as { method?: unknown } | null)?.method === 'initialize')
}
