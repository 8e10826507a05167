// The MCP authorization spec's part of the agent, when an authorization
// server is set (DTMA_JWKS_URL, DTMA_TOKEN_ISSUER): GET
// /.well-known/oauth-protected-resource (RFC 9728) names it, and a refusal of
// an MCP endpoint for its credential says where that metadata is
// (WWW-Authenticate, RFC 6750 §3 and RFC 9728 §5.1): 401 with
// resource_metadata, and error="invalid_token" when a token was given; 403
// for a token without the scope, error="insufficient_scope". A standard MCP
// client reads it and gets a token by itself. Without an authorization
// server the route answers 404, as RFC 9728 clients expect of a resource
// that has no metadata, and refusals carry no challenge of it.
import { ErrorCode, routes, Scope, SCOPES, type RouteId } from '@dtma/contract'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DtmaError } from '../errors.ts'
import type { Handlers } from './register.ts'

export interface AuthorizationServer {
  /** The tokens' iss, named as the authorization server. */
  issuer: string
}

const METADATA_PATH = routes.protectedResource.path
const MCP_ROUTES = new Set<string>((Object.keys(routes) as RouteId[]).filter((id) => routes[id].path.endsWith('/mcp')))

/** The toolbox as the caller named it (scheme and Host of its request). */
function baseOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`
}

/** The challenge of a refusal: which error, and where the metadata is. */
function challenge(request: FastifyRequest, status: number, payload: unknown): string | undefined {
  const metadata = `resource_metadata="${baseOf(request)}${METADATA_PATH}"`
  if (status === 401) return request.headers.authorization === undefined ? `Bearer ${metadata}` : `Bearer error="invalid_token", ${metadata}`
  if (status !== 403 || typeof payload !== 'string') return undefined
  // Of the 403s, a token without the scope (credentials/route-access.ts): not an instance not granted, a foreign Origin, a session of another grant.
  let error: { message?: unknown; data?: { code?: unknown } } | undefined
  try {
    error = (JSON.parse(payload) as { error?: typeof error }).error
  } catch {
    return undefined
  }
  if (error?.data?.code !== ErrorCode.forbidden || !String(error.message).startsWith('Forbidden: missing scope')) return undefined
  return `Bearer error="insufficient_scope", scope="${Scope.mcp}", ${metadata}`
}

export function protectedResourceHandlers(app: FastifyInstance, server: AuthorizationServer | undefined): Pick<Handlers, 'protectedResource'> {
  if (server !== undefined) {
    app.addHook('onSend', async (request, reply, payload) => {
      if (!MCP_ROUTES.has(request.routeOptions.config.routeId ?? '')) return payload
      const value = challenge(request, reply.statusCode, payload)
      if (value !== undefined) reply.header('www-authenticate', value)
      return payload
    })
  }
  return {
    protectedResource: async (request) => {
      if (server === undefined) throw new DtmaError('not-found', 'this toolbox names no authorization server (DTMA_JWKS_URL and DTMA_TOKEN_ISSUER are not set): use a token from its backend')
      return {
        status: 200,
        body: {
          resource: `${baseOf(request)}/`,
          authorization_servers: [server.issuer],
          scopes_supported: [...SCOPES],
          bearer_methods_supported: ['header'],
          resource_name: 'DTMA toolbox'
        }
      }
    }
  }
}
