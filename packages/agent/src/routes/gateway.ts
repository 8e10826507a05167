// Handlers of /mcp, the toolbox's aggregated MCP endpoint: the Origin and
// Accept rules of every MCP endpoint (mcp-checks.ts), then the request as a
// web-standard one (never its Authorization: the grant the auth plugin read
// goes as the caller) to the gateway, and its answer, JSON or a stream of
// events, written back as it comes.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { GatewayApi } from '../gateway/gateway-api.ts'
import { checkAccept, checkOrigin } from './mcp-checks.ts'
import { gatewayCaller } from './mcp-grant.ts'
import type { Handlers, RawAnswer } from './register.ts'

type GatewayHandlers = Pick<Handlers, 'gatewayPost' | 'gatewayStream' | 'gatewayEnd'>

/** Headers the gateway does not see: the credential, and what the body as sent again makes untrue. */
const WITHHELD = new Set(['authorization', 'cookie', 'host', 'content-length', 'transfer-encoding', 'connection'])

function webRequest(request: FastifyRequest, signal: AbortSignal): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string' && !WITHHELD.has(name)) headers.set(name, value)
  const body = request.method === 'POST' ? JSON.stringify(request.body) : undefined
  return new Request('http://localhost/mcp', { method: request.method, headers, body, signal })
}

export function gatewayHandlers(gateway: GatewayApi, allowedOrigins: string[]): GatewayHandlers {
  const answer = async (request: FastifyRequest, reply: FastifyReply, accept: string[]): Promise<RawAnswer> => {
    checkOrigin(request, allowedOrigins)
    checkAccept(request, accept)
    const aborted = new AbortController()
    reply.raw.once('close', () => aborted.abort())
    const response = await gateway.handle(webRequest(request, aborted.signal), gatewayCaller(request.grant), request.method === 'POST' ? request.body : undefined)
    reply.hijack()
    const headers: Record<string, string> = {}
    response.headers.forEach((value, name) => {
      headers[name] = value
    })
    reply.raw.writeHead(response.status, headers)
    if (response.body === null) {
      reply.raw.end()
      return { raw: true }
    }
    reply.raw.flushHeaders()
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), reply.raw).catch(() => undefined)
    return { raw: true }
  }
  return {
    gatewayPost: (request, reply) => answer(request, reply, ['application/json', 'text/event-stream']),
    gatewayStream: (request, reply) => answer(request, reply, ['text/event-stream']),
    gatewayEnd: (request, reply) => answer(request, reply, [])
  }
}
