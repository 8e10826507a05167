// The credential check of the routes the contract marks `bearer`, and what a
// credential may do there (credentials/): a token of this toolbox or of its
// authorization server, or the fleet key while it is accepted. It sets
// request.grant, then checks the route's scopes (the route table's `scope`)
// and, for a token that names instances, the instance a `:name` route
// touches. 401: no credential, or one that proves nothing; 403: a proven
// credential that does not allow this call; 429: an address that failed too
// often (IPv6: per /64), with Retry-After. A valid credential is always
// served, even from a blocked address: the backend's calls leave from shared
// addresses, and a signature cannot be guessed through the limiter.
import { routes, type RouteDefinition, type RouteId, type Scope } from '@dtma/contract'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.ts'
import { CredentialCheck } from '../../credentials/credential-check.ts'
import { grantsInstance, type Grant } from '../../credentials/grant.ts'
import { queryTokenRefusal } from '../../credentials/query-token.ts'
import { CredentialRefusal } from '../../credentials/refusal.ts'
import { instanceRefusal, routeRefusal } from '../../credentials/route-access.ts'
import { credentialSettings, instanceIdOf } from '../../credentials/settings.ts'
import { DtmaError } from '../../errors.ts'
import type { InstanceApi } from '../../instances/instance-api.ts'
import type { Metrics } from '../../metrics/metrics.ts'
import { AuthFailureLimiter } from './auth-failure-limiter.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook of a bearer route: sets request.grant, or refuses with 401/403/429. */
    requireBearer: (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void
    /** The grant of a request on a public route that says more to a credential holding `scope`; undefined otherwise. */
    grantWith: (request: FastifyRequest, scope: Scope) => Promise<Grant | undefined>
  }
}

export interface AuthOptions {
  config: Config
  /** Its views map a `:name` to the account_tool_instance_id a token's `instances` names. */
  instances: InstanceApi
  metrics: Metrics
}

async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const check = new CredentialCheck(credentialSettings(options.config))
  const idOf = instanceIdOf(options.instances)
  const failures = options.config.authFailures
  const fleetKeyUses = options.metrics.counter({
    name: 'fleet_key_uses_total',
    help: 'Requests authenticated with the fleet key, by route: at zero for long enough, DTMA_ACCEPT_FLEET_KEY can be turned off',
    labelNames: ['route'] as const
  })
  const limiter = new AuthFailureLimiter(failures)
  const failed = (request: FastifyRequest): void => {
    if (limiter.recordFailure(request.ip)) request.log.warn({ clientAddress: request.ip, windowMs: failures.windowMs }, 'too many failed authentications: address blocked')
  }

  // A token in a URL reaches logs, proxies and browser history: refused on every route, before anything else.
  // (Hooks of every request take a callback: no promise per request where nothing waits.)
  app.addHook('onRequest', (request, _reply, done) => {
    const reason = queryTokenRefusal(request.query)
    done(reason === undefined ? undefined : new DtmaError('unauthorized', reason))
  })

  /** The grant of the request's credential; a refusal counts as a failure of its address. */
  async function grantOf(request: FastifyRequest): Promise<Grant> {
    const retryAfterSeconds = limiter.retryAfterSeconds(request.ip)
    try {
      const grant = await check.check(request.headers.authorization)
      if (grant.source === 'fleet-key') fleetKeyUsed(request)
      return grant
    } catch (error) {
      if (retryAfterSeconds !== undefined) throw new DtmaError('rate-limited', 'Too Many Requests: too many failed authentications from this address', { retryAfterSeconds })
      failed(request)
      throw asHttpError(error)
    }
  }

  function fleetKeyUsed(request: FastifyRequest): void {
    fleetKeyUses.inc({ route: request.routeOptions.config.routeId ?? 'unmatched' })
    const count = check.fleetKeyUses.record()
    if (count !== undefined) {
      request.log.warn({ uses: count }, 'the fleet key (BACKEND_TO_DTMA_API_KEY) authenticated requests: turn DTMA_ACCEPT_FLEET_KEY off once the backend signs tokens (metric dtma_fleet_key_uses_total)')
    }
  }

  /** The grant on the request, once the route and its instance are allowed to it. */
  function allow(request: FastifyRequest, grant: Grant): void {
    request.grant = grant
    const routeId = request.routeOptions.config.routeId as RouteId | undefined
    const route: RouteDefinition | undefined = routeId === undefined ? undefined : routes[routeId]
    const refusal = routeRefusal(grant, route?.scope ?? [])
    if (refusal !== undefined) throw asHttpError(refusal)
    if (grant.instances !== undefined && route !== undefined && !instanceAllowed(grant, route, request)) throw asHttpError(instanceRefusal())
  }

  app.decorate('requireBearer', (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    const allowed = (grant: Grant) => {
      try {
        allow(request, grant)
      } catch (error) {
        return done(error as Error)
      }
      done()
    }
    // A token verified already (every MCP call of a session sends the same): checked here and now, no promise.
    const known = check.remembered(request.headers.authorization)
    if (known !== undefined) return allowed(known)
    grantOf(request).then(allowed, (error: Error) => done(error))
  })

  // Public routes ask this: no credential is not a failure, a wrong one is (while
  // the address is not blocked already), a valid one without the scope says nothing more.
  app.decorate('grantWith', async (request: FastifyRequest, scope: Scope) => {
    if (CredentialCheck.bearerOf(request.headers.authorization) === undefined) return undefined
    try {
      const grant = await check.check(request.headers.authorization)
      if (grant.source === 'fleet-key') fleetKeyUsed(request)
      request.grant = grant
      return grant.scopes.has(scope) ? grant : undefined
    } catch {
      if (limiter.retryAfterSeconds(request.ip) === undefined) failed(request)
      return undefined
    }
  })

  /** A token that names instances touches only those: a `:name` route's instance by its account_tool_instance_id; a route about no instance of ours (the legacy containers) not at all. */
  function instanceAllowed(grant: Grant, route: RouteDefinition, request: FastifyRequest): boolean {
    if (route.path.startsWith('/tools/legacy')) return false
    if (!route.path.includes(':name')) return true
    const name = (request.params as { name?: unknown } | undefined)?.name
    return typeof name === 'string' && grantsInstance(grant, idOf(name))
  }
}

function asHttpError(error: unknown): DtmaError {
  if (error instanceof CredentialRefusal) return new DtmaError(error.kind, error.message)
  // Never a 500 for a credential: whatever broke is a refusal that says so (the cause goes to the log, not the caller).
  return new DtmaError('unauthorized', 'Unauthorized: the credential could not be checked', { cause: error })
}

export default fp(authPlugin, { name: 'dtma-auth', fastify: '5.x' })
