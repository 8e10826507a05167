// The way to one toolbox's DTMA agent: the typed contract client, its base
// URL and deadlines, and the translation of agent failures into HttpErrors
// that carry the agent's own reason. A toolbox whose heartbeat reported its
// certificate is called over HTTPS trusting that certificate alone (pinned),
// each request with a token of its own: signed with the toolbox's secret from
// its row, for the narrowest scope the route needs, for a minute, narrowed to
// the instance the call names. One whose row has no certificate (an agent of
// an earlier build) is called as before: plain HTTP with the fleet key.
import {
  BACKEND_TOKEN_LIFETIME_S,
  createDtmaClient,
  DtmaClientError,
  routes,
  Scope,
  signToolboxToken,
  toolboxAudience,
  type DtmaClient,
  type RouteDefinition,
  type StatusReply
} from '../../../packages/contract/src/index.ts'
import type { EnvironmentRow } from './database.ts'
import { FunctionErrorCode, HttpError } from './http.ts'

/** The agent's default listen port (dtma-contract.md: PORT). */
export const DEFAULT_AGENT_PORT = 30000
/** Status and lifecycle calls answer fast or not at all. */
export const STATUS_TIMEOUT_MS = 10_000
/** A deploy may pull an image first. */
export const DEPLOY_TIMEOUT_MS = 120_000

export interface AgentAccess {
  /** BACKEND_TO_DTMA_API_KEY: only for an agent of an earlier build (its row has no certificate yet). */
  token: string
  /** The port agents listen on; tests point it at a loopback agent. */
  port: number
  /** Injected fetch for tests; the global one otherwise. */
  fetch?: typeof fetch
  /** Deadlines; STATUS_TIMEOUT_MS and DEPLOY_TIMEOUT_MS unless a test shortens them. */
  statusTimeoutMs?: number
  deployTimeoutMs?: number
  /** How long the `mcp` tokens of toolbox-tools' mcp-access last (DTMA_MCP_TOKEN_LIFETIME_S); an hour unless set. */
  mcpTokenLifetimeS?: number
}

/** One function request's way to one toolbox's agent: the HTTP client that
 *  trusts the row's certificate alone is made on first use and closed by close(). */
export interface AgentConnection {
  /** The typed client; every request carries a token of its own, narrowed to `accountToolInstanceId` when given. */
  client(accountToolInstanceId?: string): DtmaClient
  close(): void
}

/** A toolbox's agent, as its row says to call it: pinned HTTPS with a per-request token
 *  when the row has the agent's certificate, else plain HTTP with the fleet key. */
export function connectAgent(toolbox: EnvironmentRow, access: AgentAccess): AgentConnection {
  if (!toolbox.public_ip_address) {
    throw new HttpError(409, FunctionErrorCode.toolboxNotReady, `Toolbox '${toolbox.id}' has no IP address yet`)
  }
  const host = toolbox.public_ip_address.includes(':') ? `[${toolbox.public_ip_address}]` : toolbox.public_ip_address
  const options = { timeoutMs: access.statusTimeoutMs ?? STATUS_TIMEOUT_MS }
  const pem = toolbox.dtma_tls_certificate_pem
  const secret = toolbox.dtma_bearer_token
  if (!callsWithTokens(toolbox) || !pem || !secret) {
    // An agent of an earlier build: as before, until its first heartbeat with a certificate.
    const client = createDtmaClient({ baseUrl: `http://${host}:${access.port}`, token: access.token, ...options, ...(access.fetch && { fetch: access.fetch }) })
    return { client: () => client, close: () => {} }
  }
  let httpClient: Deno.HttpClient | undefined
  const pinned = { toolboxId: toolbox.id, fingerprint: toolbox.dtma_tls_fingerprint_sha256 ?? 'unknown' }
  return {
    client: (accountToolInstanceId) =>
      createDtmaClient({
        baseUrl: `https://${host}:${access.port}`,
        ...options,
        fetch: signingFetch(access.fetch ?? fetch, () => (httpClient ??= Deno.createHttpClient({ caCerts: [pem] })), pinned, (scope) =>
          signToolboxToken(secret, {
            audience: toolboxAudience(toolbox.id),
            scopes: [scope],
            lifetimeSeconds: BACKEND_TOKEN_LIFETIME_S,
            subject: 'agentopia-backend',
            ...(accountToolInstanceId !== undefined && { instances: [accountToolInstanceId] })
          })
        )
      }),
    close: () => httpClient?.close()
  }
}

/** Whether the toolbox's agent is called over pinned HTTPS with per-request tokens (its heartbeat reported a certificate). */
export function callsWithTokens(toolbox: EnvironmentRow): boolean {
  return Boolean(toolbox.dtma_tls_certificate_pem && toolbox.dtma_bearer_token)
}

/** The agent's certificate is not the one its row holds: not the toolbox we know, or a new certificate no heartbeat reported yet. */
export class CertificateRefused extends Error {}

/** A fetch that sends each request with a token for its route's scope, over the pinned client. */
function signingFetch(
  base: typeof fetch,
  httpClient: () => Deno.HttpClient,
  pinned: { toolboxId: string; fingerprint: string },
  sign: (scope: Scope) => Promise<string>
): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input))
    const headers = new Headers(init?.headers)
    headers.set('authorization', `Bearer ${await sign(scopeOf(init?.method ?? 'GET', url.pathname))}`)
    try {
      const pinnedInit: RequestInit & { client: Deno.HttpClient } = { ...init, headers, client: httpClient() }
      return await base(url, pinnedInit)
    } catch (error) {
      if (!/certificate|UnknownIssuer|NotValidForName|invalid peer/i.test(messages(error))) throw error
      throw new CertificateRefused(
        `the agent of toolbox '${pinned.toolboxId}' presented a TLS certificate other than the one its heartbeat reported (SHA-256 ${pinned.fingerprint}): refused. ` +
          'An agent that made a new certificate reports it with its next heartbeat; until then it is not called.'
      )
    }
  }
}

/** An error's message and its causes' ("fetch failed" says why only in its cause). */
function messages(error: unknown): string {
  const parts: string[] = []
  for (let current = error; current instanceof Error && parts.length < 5; current = current.cause) parts.push(current.message)
  return parts.join(': ')
}

/** Routes by how specific they are: /tools/legacy before /tools/:name. */
const ROUTES_BY_PATH = (Object.values(routes) as RouteDefinition[])
  .map((route) => ({ route, pattern: new RegExp(`^${route.path.replace(/:[^/]+/g, '[^/]+')}$`) }))
  .sort((a, b) => a.route.path.split(':').length - b.route.path.split(':').length)

/** The narrowest scope a call needs: its route's first; a public route (GET /status) tools:read, for the full answer. */
export function scopeOf(method: string, pathname: string): Scope {
  const match = ROUTES_BY_PATH.find(({ route, pattern }) => route.method === method && pattern.test(pathname))
  return match?.route.scope?.[0] ?? Scope.toolsRead
}

/** A thrown client error (no declared answer) as the caller's error. */
export function agentCallError(error: unknown): HttpError {
  if (!(error instanceof DtmaClientError)) throw error
  if (error.cause instanceof CertificateRefused) return new HttpError(502, FunctionErrorCode.agentCertificateRefused, error.cause.message)
  switch (error.kind) {
    case 'timeout':
      return new HttpError(504, FunctionErrorCode.agentTimeout, error.message)
    case 'network':
      return new HttpError(502, FunctionErrorCode.agentUnreachable, error.message)
    case 'bad-response':
      return new HttpError(502, FunctionErrorCode.agentBadResponse, error.message)
  }
}

/** A declared error answer of the agent, passed on with its reason and code.
 *  The agent rejecting our own credentials is our fault, not the user's: 502. */
export function agentReplyError(status: number, body: unknown): HttpError {
  const reply = (typeof body === 'object' && body !== null ? body : {}) as { error?: unknown; code?: unknown }
  const reason = typeof reply.error === 'string' ? reply.error : `DTMA answered ${status}`
  const code = typeof reply.code === 'string' ? reply.code : FunctionErrorCode.agentBadResponse
  const passOn = status >= 400 && status < 500 && status !== 401 && status !== 403
  return new HttpError(passOn ? status : 502, code, reason)
}

/** Run one agent call; a call that got no declared answer becomes an HttpError. */
export async function callAgent<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw agentCallError(error)
  }
}

/** GET /status, always with the token: without one the agent (DTMA_PUBLIC_STATUS=minimal,
 *  its default) hides its instances. An answer that is not a 200 JSON object (an agent
 *  of another build, a proxy's error page) is a failure like an unreachable agent, and
 *  so is one with its instances hidden: the agent did not take our token, and its empty
 *  list must not pass for a toolbox without tools. */
export async function agentStatus(client: DtmaClient): Promise<StatusReply> {
  const reply = await callAgent(() => client.status())
  // The contract declares only 200; anything else can still arrive.
  const status: number = reply.status
  const body: unknown = reply.body
  if (status !== 200) throw agentReplyError(status, body)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError(502, FunctionErrorCode.agentBadResponse, 'DTMA answered GET /status with something other than a JSON object')
  }
  if ((body as { tool_instances_hidden?: unknown }).tool_instances_hidden === true) {
    throw new HttpError(502, FunctionErrorCode.agentBadResponse, "DTMA hid its instances from GET /status: it did not accept the functions' credential (a token signed with the toolbox's secret, or BACKEND_TO_DTMA_API_KEY)")
  }
  return body as StatusReply
}
