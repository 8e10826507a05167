// The HTTP side of MCP 2026-07-28 on /tools/:name/mcp: a request without a
// session that names the stateless revision (mcp/era.ts). To a multiplexed
// server (stdio, sse), or an http one that speaks only the session era, it
// is checked here as that revision's transport says and answered through the
// MCP side's stateless bridge; to an http server that speaks 2026-07-28 it is
// relayed (the server answers it), once its Mcp-Method and Mcp-Name headers
// are found to say what its body says. A refusal is the revision's own: its HTTP status and JSON-RPC
// error, with the request's id.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { checkNames, checkStateless, EraRefusal, type EraMessage, type McpApi, type McpEndpoint } from '../mcp/mcp-api.ts'
import type { CallerAccess } from './mcp-grant.ts'
import type { RawAnswer } from './register.ts'

const event = (message: unknown): string => `event: message\ndata: ${JSON.stringify(message)}\n\n`

function json(reply: FastifyReply, status: number, body: unknown): RawAnswer {
  reply.hijack()
  const text = JSON.stringify(body)
  reply.raw.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  reply.raw.end(text)
  return { raw: true }
}

function stream(reply: FastifyReply): void {
  reply.hijack()
  reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  reply.raw.flushHeaders()
}

/** relay: the http server's own answer. */
export async function answerStateless(mcp: McpApi, endpoint: McpEndpoint, name: string, access: CallerAccess, request: FastifyRequest, reply: FastifyReply, relay: () => Promise<RawAnswer>): Promise<RawAnswer> {
  const message = request.body as EraMessage
  try {
    const open = endpoint.kind === 'sessions' ? endpoint.open : await endpoint.stateless()
    if (open === undefined) {
      checkNames(request.headers, message)
      return await relay()
    }
    const capabilities = checkStateless(request.headers, message)
    if (message.method === 'subscriptions/listen') {
      stream(reply)
      const end = await mcp.stateless.listen(open, message, capabilities, (frame) => reply.raw.write(event(frame)))
      reply.raw.once('close', end)
      return { raw: true }
    }
    const gone = new AbortController()
    reply.raw.once('close', () => reply.raw.writableFinished || gone.abort())
    const { messages } = await mcp.stateless.handle(open, message, capabilities, `${name}\n${access.binding}`, gone.signal)
    const last = messages[messages.length - 1] as { error?: { code?: number } } | undefined
    // A method the server does not implement is a 404 in this revision.
    if (messages.length === 1) return json(reply, last?.error?.code === -32601 ? 404 : 200, last)
    stream(reply)
    reply.raw.end(messages.map(event).join(''))
    return { raw: true }
  } catch (error) {
    if (!(error instanceof EraRefusal)) throw error
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.end(event(error.body(message.id)))
      return { raw: true }
    }
    return json(reply, error.status, error.body(message.id))
  }
}
