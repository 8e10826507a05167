// Bearer authentication for the routes the contract marks `bearer`.
// @fastify/bearer-auth compares the token in constant time against every
// configured token; this plugin adds the contract's 401/403 split and a
// failed-auth limit per client address (IPv6: per /64), 429 with Retry-After.
// A valid token is always served, even from a blocked address: the backend's
// calls leave from shared addresses, and a token of 32 characters or more
// (config refuses shorter ones) cannot be guessed through the limiter.
import { createHash, timingSafeEqual } from 'node:crypto'
import bearerAuth from '@fastify/bearer-auth'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DtmaError } from '../../errors.ts'
import { AuthFailureLimiter } from './auth-failure-limiter.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hook: 401 without a well-formed Bearer header, 403 for a wrong token. */
    requireBearer: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** True when the request carries a valid token (for routes that are public but say more to callers with one). */
    hasValidBearer: (request: FastifyRequest, reply: FastifyReply) => Promise<boolean>
  }
}

const BEARER_FORMAT = /^Bearer \S+/

export interface AuthOptions {
  tokens: string[]
  /** SHA-256 (hex) of more accepted tokens: a key the agent accepts without holding it (an enrolled toolbox's fleet key). */
  tokenHashes?: string[]
  failures: { limit: number; windowMs: number }
}

async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  if (options.tokens.length === 0) throw new Error('DTMA auth needs at least one token')
  // Every accepted token as a digest: one constant-time comparison per token, whatever its length.
  const digests = [...options.tokens.map((token) => sha256(token)), ...(options.tokenHashes ?? []).map((hex) => Buffer.from(hex, 'hex'))]
  const auth = (key: string): boolean => {
    const presented = sha256(key)
    let found = false
    for (const digest of digests) found = (digest.length === presented.length && timingSafeEqual(digest, presented)) || found
    return found
  }
  await app.register(bearerAuth, { keys: options.tokens, auth, addHook: false, verifyErrorLogLevel: 'debug' })
  const verifyBearerAuth = app.verifyBearerAuth
  if (verifyBearerAuth === undefined) throw new Error('@fastify/bearer-auth did not decorate verifyBearerAuth')
  const verify = verifyBearerAuth

  function tokenMatches(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    return new Promise((resolve) => verify(request, reply, (error?: Error) => resolve(error === undefined)))
  }

  const limiter = new AuthFailureLimiter(options.failures)
  const failed = (request: FastifyRequest): void => {
    if (limiter.recordFailure(request.ip)) request.log.warn({ clientAddress: request.ip, windowMs: options.failures.windowMs }, 'too many failed authentications: address blocked')
  }

  const refused = (retryAfterSeconds: number): DtmaError =>
    new DtmaError('rate-limited', 'Too Many Requests: too many failed authentications from this address', { retryAfterSeconds })

  app.decorate('requireBearer', async (request: FastifyRequest, reply: FastifyReply) => {
    const retryAfterSeconds = limiter.retryAfterSeconds(request.ip)
    if (!BEARER_FORMAT.test(request.headers.authorization ?? '')) {
      if (retryAfterSeconds !== undefined) throw refused(retryAfterSeconds)
      failed(request)
      throw new DtmaError('unauthorized', 'Unauthorized: Missing or invalid token format')
    }
    if (await tokenMatches(request, reply)) return
    if (retryAfterSeconds !== undefined) throw refused(retryAfterSeconds)
    failed(request)
    throw new DtmaError('forbidden', 'Forbidden: Invalid token')
  })

  // Public routes ask this: no token is not a failure, a wrong one is (while
  // the address is not blocked already), a valid one is valid.
  app.decorate('hasValidBearer', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!BEARER_FORMAT.test(request.headers.authorization ?? '')) return false
    const valid = await tokenMatches(request, reply)
    reply.code(200) // bearer-auth marks a failed check 401; this route still answers
    if (!valid && limiter.retryAfterSeconds(request.ip) === undefined) failed(request)
    return valid
  })
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

export default fp(authPlugin, { name: 'dtma-auth', fastify: '5.x' })
