// What the MCP transport says an endpoint must refuse before anything else:
// a foreign Origin, an Accept that lists not what it answers with. The same
// rules on /tools/{name}/mcp and on the aggregated /mcp.
import { isIP } from 'node:net'
import type { FastifyRequest } from 'fastify'
import { DtmaError } from '../errors.ts'

export function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  if (Array.isArray(value)) throw new DtmaError('invalid', `${name}: give one value`)
  return value
}

/**
 * The MCP transport's Origin rule: no Origin (not a browser) is accepted, and
 * so is a listed one; an unlisted one only when it is the request's own
 * origin (scheme, host and port as its Host says) and that Host cannot be a
 * DNS-rebinding name: over TLS (the browser checked the agent's certificate
 * for that name), or an IP address or localhost. A name over plain HTTP may
 * point anywhere (a page of evil.example rebound to the agent is "same
 * origin" to its browser): such names go in DTMA_MCP_ALLOWED_ORIGINS.
 */
export function checkOrigin(request: FastifyRequest, allowed: string[]): void {
  const origin = header(request, 'origin')
  if (origin === undefined || allowed.includes('*') || allowed.includes(origin) || isOwnOrigin(request, origin)) return
  throw new DtmaError('mcp-origin-refused', `Origin ${JSON.stringify(origin.slice(0, 100))} may not use the MCP endpoint (DTMA_MCP_ALLOWED_ORIGINS)`)
}

function isOwnOrigin(request: FastifyRequest, origin: string): boolean {
  let own: URL
  let asked: URL
  try {
    own = new URL(`${request.protocol}://${header(request, 'host') ?? ''}`)
    asked = new URL(origin)
  } catch {
    return false
  }
  if (asked.origin !== own.origin || own.username !== '' || own.pathname !== '/') return false
  return own.protocol === 'https:' || own.hostname === 'localhost' || isIP(own.hostname.replace(/^\[(.*)\]$/, '$1')) !== 0
}

export function checkAccept(request: FastifyRequest, types: string[]): void {
  const accept = header(request, 'accept') ?? ''
  if (!types.every((type) => accept.includes(type))) throw new DtmaError('mcp-not-acceptable', `Accept must list ${types.join(' and ')} (MCP Streamable HTTP)`)
}
