// The DTMA access token: what the backend (our edge functions), the CLI on a
// toolbox and an authorization server sign, and what the agent checks. It is
// defined here once so the issuer and the verifier cannot drift. jose signs
// and verifies it in Node and in Deno alike.
//
// A token is a JWT, HS256 signed with the toolbox's own per-VM secret (the
// DTMA_BEARER_TOKEN that enrolment gave it; never the fleet key), or signed
// by an authorization server whose keys the agent reads from DTMA_JWKS_URL.
import { SignJWT } from 'jose'
import { Type, type Static } from 'typebox'

/** What a token may do, by route family (routes.ts names each bearer route's scope). */
export const Scope = {
  /** Reads of /tools*, the full /status, /events, /capabilities. */
  toolsRead: 'tools:read',
  /** Deploy, start, stop, restart, delete, adopt. */
  toolsWrite: 'tools:write',
  /** A tool's logs and the agent's own. */
  logsRead: 'logs:read',
  /** /restart, /redeploy, /metrics. */
  agentAdmin: 'agent:admin',
  /** /tools/{name}/mcp of the instances the token names. */
  mcp: 'mcp'
} as const
export type Scope = (typeof Scope)[keyof typeof Scope]
export const SCOPES: readonly Scope[] = Object.values(Scope)

export const TOKEN_ALGORITHM = 'HS256'

/** The claims the agent reads; others (iss, sub, jti) may be present and are kept for logs of who called. */
export const TokenClaims = Type.Object(
  {
    /** The toolbox: `dtma:<account_tool_environment_id>` (toolboxAudience) unless the agent is told another. */
    aud: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })]),
    /** Seconds since the epoch; both required: a token without an end is refused. */
    iat: Type.Integer(),
    exp: Type.Integer(),
    nbf: Type.Optional(Type.Integer()),
    iss: Type.Optional(Type.String()),
    sub: Type.Optional(Type.String()),
    jti: Type.Optional(Type.String()),
    /** Space-separated scopes (Scope). */
    scope: Type.String({ minLength: 1 }),
    /** account_tool_instance_ids a `mcp` token (or a narrowed tools:* token) may touch; absent: every instance. */
    instances: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 1000 })),
    /** Per account_tool_instance_id, the tool names allowed on its MCP server; an instance not named: all its tools. */
    tools: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { maxItems: 1000 })))
  },
  { additionalProperties: true }
)
export type TokenClaims = Static<typeof TokenClaims>

/** The longest lifetimes an agent accepts by default (exp - iat), in seconds; settings may lower or raise them. */
export const TOKEN_MAX_LIFETIME_S = {
  /** tools:*, logs:read, agent:admin: minutes. */
  default: 600,
  /** A token that holds only `mcp`: what an AI agent keeps for a session, up to a day. */
  mcp: 86_400
} as const
/** Clock difference between issuer and toolbox tolerated on iat, nbf and exp. */
export const TOKEN_CLOCK_SKEW_S = 30
/** What our edge functions give the tokens they sign per request. */
export const BACKEND_TOKEN_LIFETIME_S = 60

/** The audience of a toolbox's tokens. */
export function toolboxAudience(accountToolEnvironmentId: string): string {
  return `dtma:${accountToolEnvironmentId}`
}

export function parseScopes(scope: string): Set<string> {
  return new Set(scope.split(' ').filter((s) => s !== ''))
}

export interface TokenRequest {
  /** toolboxAudience(...) of the toolbox the token is for. */
  audience: string
  scopes: readonly Scope[]
  /** Seconds from now until it expires. */
  lifetimeSeconds: number
  instances?: readonly string[]
  tools?: Readonly<Record<string, readonly string[]>>
  /** Who the token is for (logged by the agent, never the token). */
  subject?: string
  issuer?: string
  /** Milliseconds since the epoch; Date.now() unless a test moves the clock. */
  now?: number
}

/** Sign a token with a toolbox's per-VM secret (HS256). The secret's UTF-8 bytes are the key. */
export async function signToolboxToken(secret: string, request: TokenRequest): Promise<string> {
  if (request.scopes.length === 0) throw new Error('a DTMA token needs at least one scope')
  const iat = Math.floor((request.now ?? Date.now()) / 1000)
  const claims: Record<string, unknown> = { scope: request.scopes.join(' ') }
  if (request.instances !== undefined) claims.instances = [...request.instances]
  if (request.tools !== undefined) claims.tools = Object.fromEntries(Object.entries(request.tools).map(([id, names]) => [id, [...names]]))
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: 'JWT' })
    .setAudience(request.audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + Math.max(1, Math.floor(request.lifetimeSeconds)))
  if (request.subject !== undefined) jwt = jwt.setSubject(request.subject)
  if (request.issuer !== undefined) jwt = jwt.setIssuer(request.issuer)
  return jwt.sign(signingKey(secret))
}

export function signingKey(secret: string): Uint8Array {
  return new TextEncoder().encode(secret)
}

/** The audience of a toolbox told neither DTMA_TOKEN_AUDIENCE nor its environment id (a manual install):
 *  its own secret is then all that tells its tokens from another toolbox's. */
export const LOCAL_AUDIENCE = 'dtma:local'

/** The audience a toolbox's tokens carry: the setting, else toolboxAudience(its environment id), else LOCAL_AUDIENCE.
 *  The agent checks and `dtma token` signs with the same rule. */
export function audienceOf(settings: { audience?: string | undefined; environmentId?: string | undefined }): string {
  if (settings.audience !== undefined) return settings.audience
  return settings.environmentId !== undefined ? toolboxAudience(settings.environmentId) : LOCAL_AUDIENCE
}
