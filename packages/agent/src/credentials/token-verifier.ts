// Checks a DTMA access token with jose and turns it into a Grant: HS256 with
// this toolbox's per-VM secret, or an asymmetric algorithm with the keys of
// the authorization server DTMA_JWKS_URL names. The header's alg chooses the
// key, and each key accepts only its own algorithms: `alg: none` and an HS256
// token signed with a public key never verify. Every refusal is a
// CredentialRefusal whose sentence names the reason, never the token.
// A caller sends the same token with every MCP call: a toolbox token once
// verified is remembered (bounded) until its exp, so a call costs a look-up,
// not an HMAC and a schema check again (all the rest of its claims only get
// truer with time). An authorization server's tokens are checked every time:
// its keys may be withdrawn.
import { SCOPES, TokenClaims, TOKEN_ALGORITHM, parseScopes, signingKey, type Scope } from '@dtma/contract'
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose'
import { Value } from 'typebox/value'
import { CredentialRefusal } from './refusal.ts'
import type { Grant } from './grant.ts'

/** What an authorization server may sign with: never a shared secret (HS*) and never none. */
export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']

export interface VerifierSettings {
  /** The per-VM secret (DTMA_BEARER_TOKEN); undefined: no toolbox tokens (JWKS only). */
  secret?: string
  audience: string
  jwks?: { url: string; issuer: string }
  maxLifetimeS: { default: number; mcp: number }
  clockSkewS: number
  /** Seconds since the epoch; Date.now() unless a test moves the clock. */
  now?: () => number
}

/** Toolbox tokens remembered at most (the oldest forgotten first). */
const VERIFIED_MAX = 1024

export class TokenVerifier {
  private readonly jwks: JWTVerifyGetKey | undefined
  private readonly secretKey: Uint8Array | undefined
  /** Toolbox tokens verified already, by their text: the grant each gave. */
  private readonly verified = new Map<string, Grant>()

  constructor(private readonly settings: VerifierSettings) {
    this.secretKey = settings.secret === undefined ? undefined : signingKey(settings.secret)
    this.jwks = settings.jwks === undefined ? undefined : createRemoteJWKSet(new URL(settings.jwks.url), { timeoutDuration: 5000, cooldownDuration: 30_000 })
  }

  /** The grant of a toolbox token verified already and not expired since; undefined: verify it. */
  remembered(token: string): Grant | undefined {
    const known = this.verified.get(token)
    if (known === undefined) return undefined
    // jose's own rule for exp: expired once now - skew reaches it.
    if ((known.expiresAt ?? 0) / 1000 > this.nowSeconds() - this.settings.clockSkewS) return known
    this.verified.delete(token)
    return undefined
  }

  async verify(token: string): Promise<Grant> {
    const known = this.remembered(token)
    if (known !== undefined) return known
    const alg = algorithmOf(token)
    const common = { audience: this.settings.audience, clockTolerance: this.settings.clockSkewS, requiredClaims: ['exp', 'iat'], currentDate: this.currentDate() }
    let payload: JWTPayload
    let source: Grant['source']
    try {
      if (alg === TOKEN_ALGORITHM) {
        if (this.secretKey === undefined) throw new CredentialRefusal('unauthorized', 'Unauthorized: this toolbox has no secret to check HS256 tokens with; it accepts only its authorization server\'s tokens')
        payload = (await jwtVerify(token, this.secretKey, { ...common, algorithms: [TOKEN_ALGORITHM] })).payload
        source = 'toolbox-token'
      } else if (ASYMMETRIC_ALGORITHMS.includes(alg)) {
        if (this.jwks === undefined || this.settings.jwks === undefined) {
          throw new CredentialRefusal('unauthorized', `Unauthorized: the token is signed with ${alg}, but this toolbox trusts no authorization server (DTMA_JWKS_URL is not set); its own tokens are HS256`)
        }
        payload = (await jwtVerify(token, this.jwks, { ...common, algorithms: ASYMMETRIC_ALGORITHMS, issuer: this.settings.jwks.issuer })).payload
        source = 'jwks-token'
      } else {
        throw new CredentialRefusal('unauthorized', `Unauthorized: the token's algorithm (${alg.slice(0, 16)}) is not accepted: HS256 with this toolbox's secret, or an asymmetric one of its authorization server`)
      }
    } catch (error) {
      throw refusalOf(error)
    }
    const grant = this.grantOf(payload, source)
    if (source === 'toolbox-token') {
      if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string)
      this.verified.set(token, grant)
    }
    return grant
  }

  private grantOf(payload: JWTPayload, source: Grant['source']): Grant {
    if (!Value.Check(TokenClaims, payload)) {
      const first = Value.Errors(TokenClaims, payload)[0]
      throw new CredentialRefusal('unauthorized', `Unauthorized: the token's claims are not a DTMA token's (${first === undefined ? 'claims' : `${first.instancePath || '/'}: ${first.message}`})`)
    }
    const claims = payload as TokenClaims
    const now = this.nowSeconds()
    const skew = this.settings.clockSkewS
    if (claims.iat > now + skew) throw new CredentialRefusal('unauthorized', 'Unauthorized: the token was issued in the future (iat): check the issuer\'s clock')
    const scopes = new Set([...parseScopes(claims.scope)].filter((scope): scope is Scope => (SCOPES as readonly string[]).includes(scope)))
    if (scopes.size === 0) throw new CredentialRefusal('unauthorized', `Unauthorized: the token holds none of DTMA's scopes (${SCOPES.join(', ')})`)
    const onlyMcp = scopes.size === 1 && scopes.has('mcp')
    const cap = onlyMcp ? this.settings.maxLifetimeS.mcp : this.settings.maxLifetimeS.default
    if (claims.exp - claims.iat > cap) {
      throw new CredentialRefusal('unauthorized', `Unauthorized: the token's lifetime (exp - iat = ${claims.exp - claims.iat} s) is over the ${cap} s this toolbox accepts for ${onlyMcp ? 'an mcp token' : 'these scopes'}`)
    }
    return {
      source,
      scopes,
      ...(claims.instances !== undefined && { instances: new Set(claims.instances) }),
      ...(claims.tools !== undefined && { tools: new Map(Object.entries(claims.tools).map(([id, names]) => [id, new Set(names)])) }),
      expiresAt: claims.exp * 1000,
      ...(claims.sub !== undefined && { subject: claims.sub })
    }
  }

  private nowSeconds(): number {
    return Math.floor((this.settings.now?.() ?? Date.now()) / 1000)
  }

  private currentDate(): Date | undefined {
    return this.settings.now === undefined ? undefined : new Date(this.settings.now())
  }
}

/** The header's alg, or a refusal when the token is not a JWS in compact form. */
function algorithmOf(token: string): string {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw new CredentialRefusal('unauthorized', 'Unauthorized: the bearer credential is not a token (a JWT: header.payload.signature)')
  }
  let alg: unknown
  try {
    alg = decodeProtectedHeader(token).alg
  } catch {
    throw new CredentialRefusal('unauthorized', 'Unauthorized: the token\'s header cannot be read')
  }
  if (typeof alg !== 'string' || alg === '') throw new CredentialRefusal('unauthorized', 'Unauthorized: the token\'s header names no algorithm')
  if (alg.toLowerCase() === 'none') throw new CredentialRefusal('unauthorized', 'Unauthorized: an unsigned token (alg none) is never accepted')
  return alg
}

/** jose's errors as sentences (jose's own messages never hold the token, but ours say what to do). */
function refusalOf(error: unknown): CredentialRefusal {
  if (error instanceof CredentialRefusal) return error
  const refuse = (reason: string) => new CredentialRefusal('unauthorized', `Unauthorized: ${reason}`)
  if (error instanceof errors.JWTExpired) return refuse('the token has expired (exp)')
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return refuse('the token is not yet valid (nbf)')
    if (error.claim === 'aud') return refuse('the token is for another audience: it was not issued for this toolbox')
    if (error.claim === 'iss') return refuse('the token is from another issuer than this toolbox\'s authorization server')
    if (error.reason === 'missing') return refuse(`the token must carry exp and iat (${error.claim} is missing)`)
    return refuse(`the token's ${error.claim} claim is not valid (${error.reason})`)
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return refuse('the token\'s signature does not verify with this toolbox\'s key')
  if (error instanceof errors.JOSEAlgNotAllowed) return refuse('the token\'s algorithm is not accepted for its key')
  if (error instanceof errors.JWKSNoMatchingKey) return refuse('the token is signed with a key the authorization server does not publish')
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return refuse('the authorization server\'s keys could not be read now; try again')
  if (error instanceof errors.JOSEError) return refuse(`the token is malformed (${error.code})`)
  // A network failure of the key set fetch.
  return refuse('the authorization server\'s keys could not be read now; try again')
}
