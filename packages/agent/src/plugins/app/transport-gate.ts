// The plain-HTTP gate. The agent's port answers HTTPS and plain HTTP (the
// deployed backend still calls http://<ip>:30000); over plain HTTP from
// another host it serves only what is no secret and what the fleet key may do
// while it is accepted:
//   - /health, /health/ready, /status and /system, as they answer without a
//     credential (a credential on them is refused: it crossed the wire in clear);
//   - the routes the fleet key opens (tools:read, tools:write), with the fleet key.
// Everything else (a token, MCP, logs, the admin routes, the documents) is
// refused with a 403 that says to use HTTPS, before any credential is looked
// at when the route is none of the fleet key's, and a JSON-RPC error on the
// MCP endpoint. Loopback callers (the CLI on the toolbox, a tunnel) are not
// on the network path and pass.
import { Scope, routes, type RouteDefinition, type RouteId } from '@dtma/contract'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import '../../credentials/grant.ts'
import { DtmaError } from '../../errors.ts'

const PLAIN_PUBLIC = new Set<string>(['health', 'ready', 'status', 'system'] satisfies RouteId[])
/** Routes the fleet key may open: what the deployed backend does. */
const FLEET_KEY_ROUTES = new Set<string>(
  (Object.keys(routes) as RouteId[]).filter((id) => (routes[id] as RouteDefinition).scope?.some((scope) => scope === Scope.toolsRead || scope === Scope.toolsWrite) ?? false)
)

export const USE_HTTPS =
  'Use HTTPS: over plain HTTP this agent serves only /health, /health/ready, /status and /system without a credential, and what the fleet key may do while it is accepted (the same port answers https://)'

/** On the network path: neither encrypted nor from this host. */
export function isPlainRemote(request: FastifyRequest): boolean {
  if ((request.raw.socket as { encrypted?: boolean }).encrypted === true) return false
  const address = request.raw.socket.remoteAddress ?? ''
  return !(address === '::1' || /^(::ffff:)?127\./.test(address))
}

async function transportGate(app: FastifyInstance): Promise<void> {
  // Before any credential is read: a route no fleet key opens is refused at once.
  // (Callback hooks: a request over TLS or from this host passes without a promise.)
  app.addHook('onRequest', (request, _reply, done) => {
    if (!isPlainRemote(request)) return done()
    const routeId = request.routeOptions.config.routeId ?? ''
    if (PLAIN_PUBLIC.has(routeId) || FLEET_KEY_ROUTES.has(routeId)) return done()
    done(new DtmaError('forbidden', USE_HTTPS))
  })
  // After the credential is checked: only the fleet key passes, on its routes; a public route without a credential.
  app.addHook('preHandler', (request, _reply, done) => {
    if (!isPlainRemote(request)) return done()
    const routeId = request.routeOptions.config.routeId ?? ''
    const credential = request.headers.authorization !== undefined
    if (PLAIN_PUBLIC.has(routeId) && !credential) return done()
    const judged = PLAIN_PUBLIC.has(routeId) && request.grant === undefined ? request.server.grantWith(request, Scope.toolsRead) : Promise.resolve(undefined)
    judged.then(
      () => done(request.grant?.source === 'fleet-key' ? undefined : new DtmaError('forbidden', USE_HTTPS)),
      (error: Error) => done(error)
    )
  })
}

export default fp(transportGate, { name: 'dtma-transport-gate', fastify: '5.x', dependencies: ['dtma-auth'] })
