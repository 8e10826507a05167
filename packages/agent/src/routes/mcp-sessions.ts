// The callers' MCP sessions of multiplexed servers, on the HTTP side: one
// Streamable HTTP server transport of the official SDK per session (it does
// the transport's semantics: session ids, JSON or SSE answers, the GET
// stream, DELETE), each wired to its session of the instance's multiplexer.
// A POST of one message on an open session skips the transport: it is
// answered directly (mcp-direct.ts), and the server's messages for its call
// go there; so does the GET stream (mcp-stream.ts), which carries the
// server's messages for no request. Bounded: sessions in all, an idle
// session is ended, and one whose caller does not read what it is sent (the
// bytes waiting for it on one response pass the bound) is ended at once,
// with its connections: what waited for it is dropped. The SDK's server
// transport is loaded with the first session (~11 MB of the agent's memory
// that a toolbox nobody calls does not need).
import { randomUUID } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js'
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { FastifyBaseLogger } from 'fastify'
import { DtmaError } from '../errors.ts'
import type { SessionPipe } from '../mcp/mux-session.ts'
import { deliverDirect, endDirect, type DirectSession } from './mcp-direct.ts'
import { deliverStream, endStream, openStream, type StreamSession } from './mcp-stream.ts'

export interface HttpSession extends DirectSession, StreamSession {
  id: string
  instanceName: string
  /** The grant that opened it (routes/mcp-grant.ts): every later request must hold the same. */
  binding: string
  transport: StreamableHTTPServerTransport
  /** Requests being answered now (an open stream counts until it ends). */
  active: number
  lastUsed: number
  /** Bytes handed to the transport, and bytes it wrote out: the difference waits in memory. */
  queued: number
  written: number
}

export interface SessionLimits {
  maxSessions: number
  idleMs: number
  /** Bytes a session may leave unread on one response before it is ended. */
  backlogBytes: number
}

/** Bytes of SSE framing around a message's JSON ("event: message\ndata: ...\n\n"). */
const SSE_FRAMING = 24

let serverTransport: Promise<typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js')> | undefined

export class McpHttpSessions {
  private readonly sessions = new Map<string, HttpSession>()
  private readonly sweeper: NodeJS.Timeout

  constructor(
    private readonly limits: SessionLimits,
    private readonly log: FastifyBaseLogger
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(limits.idleMs, 60_000))
    this.sweeper.unref()
  }

  get size(): number {
    return this.sessions.size
  }

  get(sessionId: string): HttpSession | undefined {
    return this.sessions.get(sessionId)
  }

  /** A new session on a pipe of the instance's multiplexer; it joins the table once its initialize is taken. */
  async create(instanceName: string, open: () => SessionPipe, binding: string): Promise<HttpSession> {
    const { StreamableHTTPServerTransport } = await (serverTransport ??= import('@modelcontextprotocol/sdk/server/streamableHttp.js'))
    if (this.sessions.size >= this.limits.maxSessions) {
      throw new DtmaError('mcp-unavailable', `too many MCP sessions are open (${this.limits.maxSessions}): end one (DELETE) or try again later`, { retryAfterSeconds: 5 })
    }
    const pipe = open()
    const session: HttpSession = {
      id: '',
      instanceName,
      binding,
      transport: undefined as never,
      active: 0,
      lastUsed: Date.now(),
      queued: 0,
      written: 0,
      direct: new Map(),
      send: (message) => pipe.send(message)
    }
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        session.id = id
        this.sessions.set(id, session)
      }
    })
    session.transport = transport
    transport.onmessage = (message) => pipe.send(message)
    transport.onerror = () => undefined
    transport.onclose = () => this.end(session, pipe)
    pipe.onclose = () => void transport.close()
    pipe.onmessage = (message, relatedRequestId) => this.deliver(session, pipe, message, relatedRequestId)
    return session
  }

  /** The session's GET stream, on this response. */
  openStream(session: HttpSession, response: ServerResponse): void {
    openStream(session, response)
  }

  /** Counts what goes out on one response of the session that its transport answers, and when it ends. */
  track(session: HttpSession, response: ServerResponse): void {
    session.active += 1
    session.lastUsed = Date.now()
    const write = response.write.bind(response) as (chunk: unknown, ...rest: unknown[]) => boolean
    response.write = ((chunk: unknown, ...rest: unknown[]) => {
      session.written += typeof chunk === 'string' ? Buffer.byteLength(chunk) : ((chunk as Buffer | undefined)?.length ?? 0)
      return write(chunk, ...rest)
    }) as ServerResponse['write']
    response.once('close', () => {
      session.active -= 1
      session.lastUsed = Date.now()
    })
  }

  closeAll(): Promise<void> {
    clearInterval(this.sweeper)
    return Promise.all([...this.sessions.values()].map((session) => session.transport.close())).then(() => undefined)
  }

  private deliver(session: HttpSession, pipe: SessionPipe, message: JSONRPCMessage, relatedRequestId: RequestId | undefined): void {
    const waiting = relatedRequestId === undefined ? deliverStream(session, message) : deliverDirect(session, message, relatedRequestId)
    if (waiting !== undefined) {
      if (waiting > this.limits.backlogBytes) this.unread(session, pipe, waiting)
      return
    }
    // For no request, and no stream open to carry it: nobody would get it (dropped, as the SDK's transport does).
    if (relatedRequestId === undefined) return
    // A message for a request the transport answers (a batch, an initialize): its stream is the transport's.
    const size = JSON.stringify(message).length + SSE_FRAMING
    if (session.queued + size - session.written > this.limits.backlogBytes) return this.unread(session, pipe, session.queued - session.written)
    session.queued += size
    session.transport.send(message, { relatedRequestId }).catch(() => {
      // Its stream is gone (the caller went away): nothing waits for it.
      session.queued -= size
    })
  }

  private unread(session: HttpSession, pipe: SessionPipe, backlogBytes: number): void {
    this.log.warn({ instanceName: session.instanceName, backlogBytes }, 'MCP session does not read what it is sent: ended')
    // Its connections go with it, and the bytes that waited in them.
    endStream(session, true)
    for (const response of session.direct.values()) if (response.writableLength > 0) response.destroy()
    pipe.close()
  }

  private end(session: HttpSession, pipe: SessionPipe): void {
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id)
    endDirect(session, 'the MCP session ended before the answer')
    endStream(session, false)
    pipe.close()
  }

  private sweep(): void {
    const idleSince = Date.now() - this.limits.idleMs
    for (const session of this.sessions.values()) {
      if (session.active === 0 && session.lastUsed < idleSince) void session.transport.close()
    }
  }
}
