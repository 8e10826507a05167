// Handlers of /tools/:name/mcp and /tools/:name/capabilities. Every MCP
// server, whatever it speaks in its container, is reached here over MCP
// Streamable HTTP behind the agent's auth and TLS: a multiplexed one (stdio,
// sse) through the callers' sessions (mcp-sessions.ts; a POST of one message
// on an open session straight to its pipe, mcp-direct.ts), an http one through
// the proxy to its own endpoint. What the MCP transport says a server must
// refuse (a foreign Origin, a wrong Accept, a missing or unknown session, an
// unsupported protocol version) is refused here, before the SDK's transport,
// as a JSON-RPC error (plugins/app/errors.ts); the transport's own refusals
// and an http server's answers reach the caller as they were written.
import { pipeline } from 'node:stream/promises'
import { McpHeaders } from '@dtma/contract'
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import { isStateless, type McpApi, type McpEndpoint } from '../mcp/mcp-api.ts'
import { checkAccept, checkOrigin, header } from './mcp-checks.ts'
import { driftHandlers } from './mcp-drift.ts'
import { protectedResourceHandlers, type AuthorizationServer } from './protected-resource.ts'
import { callerAccess, checkBinding, ProxiedSessionBindings, type CallerAccess } from './mcp-grant.ts'
import { answerDirect } from './mcp-direct.ts'
import { McpHttpSessions, type HttpSession } from './mcp-sessions.ts'
import { answerStateless } from './mcp-stateless.ts'
import type { Handlers, RawAnswer } from './register.ts'

type McpHandlers = Pick<Handlers, 'mcpPost' | 'mcpStream' | 'mcpEnd' | 'toolCapabilities' | 'protectedResource' | 'toolDrift' | 'approveTools'>

const POST_ACCEPT = ['application/json', 'text/event-stream']

function checkProtocolVersion(request: FastifyRequest): void {
  const version = header(request, McpHeaders.protocolVersion)
  if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
    throw new DtmaError('invalid', `MCP-Protocol-Version ${JSON.stringify(version.slice(0, 40))} is not supported (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`)
  }
}

/** Relays a request to an http server's own endpoint and its answer back; `opened`: the session id its server gave, if any. */
async function proxy(endpoint: Extract<McpEndpoint, { kind: 'proxy' }>, request: FastifyRequest, reply: FastifyReply, opened?: (sessionId: string) => void): Promise<RawAnswer> {
  const aborted = new AbortController()
  reply.raw.once('close', () => aborted.abort())
  const answer = await endpoint.forward({ method: request.method, headers: request.headers, body: request.method === 'POST' ? request.body : undefined, signal: aborted.signal })
  const sessionId = answer.headers[McpHeaders.session]
  if (sessionId !== undefined && answer.status < 300) opened?.(sessionId)
  reply.hijack()
  reply.raw.writeHead(answer.status, answer.headers)
  reply.raw.flushHeaders()
  await pipeline(answer.body, reply.raw).catch(() => undefined)
  return { raw: true }
}

/** authorizationServer: the one whose tokens open the MCP endpoints, if set (protected-resource.ts). */
export function mcpHandlers(mcp: McpApi, instances: Pick<InstanceApi, 'get'>, app: FastifyInstance, authorizationServer: AuthorizationServer | undefined): McpHandlers {
  const { allowedOrigins, maxSessions, sessionIdleMs } = mcp.settings
  const sessions = new McpHttpSessions({ maxSessions, idleMs: sessionIdleMs, backlogBytes: 16 * 1024 * 1024 }, app.log)
  const proxied = new ProxiedSessionBindings(Math.max(maxSessions * 4, 1024))
  app.addShutdownStep('drain', 'MCP sessions', () => sessions.closeAll())

  /** What the request's credential grants of this instance's server (instances.get: 404 for an unknown one). */
  const accessOf = (request: FastifyRequest, name: string): CallerAccess => callerAccess(request.grant, instances.get(name).accountToolInstanceId)

  /** The caller's session of this instance, named by its header, opened with the same grant. */
  const sessionOf = (request: FastifyRequest, name: string, access: CallerAccess): HttpSession => {
    const id = header(request, McpHeaders.session)
    if (id === undefined) throw new DtmaError('invalid', 'Mcp-Session-Id header is required (POST initialize first to open a session)')
    const session = sessions.get(id)
    if (session === undefined || session.instanceName !== name) throw new DtmaError('mcp-session-not-found', 'MCP session not found (it ended, or the agent restarted): initialize a new one')
    checkBinding(session.binding, access)
    checkProtocolVersion(request)
    return session
  }

  /** An http server's session named by the request (if any) was opened with the same grant. */
  const proxiedSession = (request: FastifyRequest, name: string, access: CallerAccess): void => {
    const id = header(request, McpHeaders.session)
    if (id !== undefined) proxied.check(name, id, access)
  }

  /** A POST on an open session: one message answered directly, else (a batch) by its SDK transport. */
  const onSession = (session: HttpSession, request: FastifyRequest, reply: FastifyReply): RawAnswer | Promise<RawAnswer> => {
    reply.hijack()
    return answerDirect(session, request.body, reply.raw) ? { raw: true } : answer(session, request, reply)
  }

  /** Hands the request to the session's SDK transport, which answers it. */
  const answer = async (session: HttpSession, request: FastifyRequest, reply: FastifyReply): Promise<RawAnswer> => {
    reply.hijack()
    // The transport builds a URL from Host, and would refuse an odd one with a bare 400.
    request.raw.headers.host = 'localhost'
    sessions.track(session, reply.raw)
    try {
      await session.transport.handleRequest(request.raw, reply.raw, request.body)
    } finally {
      // An initialize that never got its session (the caller went away) leaves nothing open.
      if (session.id === '') void session.transport.close()
    }
    return { raw: true }
  }

  const opened = (request: FastifyRequest, name: string, accept: string[], access: CallerAccess): McpEndpoint => {
    checkOrigin(request, allowedOrigins)
    checkAccept(request, accept)
    return mcp.endpoint(name, access)
  }

  return {
    ...protectedResourceHandlers(app, authorizationServer),

    mcpPost: async (request, reply) => {
      const name = request.params.name
      const access = accessOf(request, name)
      checkOrigin(request, allowedOrigins)
      checkAccept(request, POST_ACCEPT)
      const body = request.body
      // The hot path: one message (not initialize) on a session of a multiplexed server. Its way to the
      // server was made when the session opened; the same refusals, in the same order, without making another.
      if (!Array.isArray(body) && !(body.method === 'initialize' && body.id !== undefined) && header(request, McpHeaders.session) !== undefined && mcp.kindOf(name) === 'sessions') {
        return onSession(sessionOf(request, name, access), request, reply)
      }
      const endpoint = mcp.endpoint(name, access)
      if (isStateless(request.headers, request.body)) return answerStateless(mcp, endpoint, name, access, request, reply, () => proxy(endpoint as Extract<McpEndpoint, { kind: 'proxy' }>, request, reply))
      // The contract's schema checked the body's shape; the SDK's transport checks each message (and its refusal becomes DTMA's error body).
      const messages = Array.isArray(request.body) ? request.body : [request.body]
      const initialize = messages.some((message) => message.method === 'initialize' && message.id !== undefined)
      if (initialize && messages.length > 1) throw new DtmaError('invalid', 'initialize must be sent alone, not in a batch')
      if (endpoint.kind === 'proxy') {
        if (!initialize) proxiedSession(request, name, access)
        return proxy(endpoint, request, reply, initialize ? (id) => proxied.remember(name, id, access) : undefined)
      }
      if (!initialize) return onSession(sessionOf(request, name, access), request, reply)
      if (header(request, McpHeaders.session) !== undefined) throw new DtmaError('invalid', 'this MCP session is initialized already; leave out Mcp-Session-Id to open a new one')
      return answer(await sessions.create(name, endpoint.open, access.binding), request, reply)
    },

    mcpStream: async (request, reply) => {
      const name = request.params.name
      const access = accessOf(request, name)
      const endpoint = opened(request, name, ['text/event-stream'], access)
      if (endpoint.kind === 'proxy') {
        proxiedSession(request, name, access)
        return proxy(endpoint, request, reply)
      }
      const session = sessionOf(request, name, access)
      if (session.stream !== undefined) throw new DtmaError('conflict', 'this MCP session has its stream open already (one GET stream per session)')
      reply.hijack()
      sessions.openStream(session, reply.raw)
      return { raw: true }
    },

    mcpEnd: async (request, reply) => {
      const name = request.params.name
      const access = accessOf(request, name)
      checkOrigin(request, allowedOrigins)
      // A session ends whether or not its server runs now.
      const id = header(request, McpHeaders.session)
      const open = id === undefined ? undefined : sessions.get(id)
      if (open !== undefined && open.instanceName === name) {
        checkBinding(open.binding, access)
        return answer(open, request, reply)
      }
      const endpoint = mcp.endpoint(name, access)
      if (endpoint.kind === 'proxy') {
        proxiedSession(request, name, access)
        return proxy(endpoint, request, reply)
      }
      return answer(sessionOf(request, name, access), request, reply)
    },

    toolCapabilities: async (request) => {
      const name = request.params.name
      return { status: 200, body: { success: true, data: mcp.capabilities(name, accessOf(request, name)) } }
    },

    ...driftHandlers(mcp)
  }
}
