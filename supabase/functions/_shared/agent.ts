// The way to one toolbox's DTMA agent: the typed contract client, its base
// URL and deadlines, and the translation of agent failures into HttpErrors
// that carry the agent's own reason.
import { createDtmaClient, DtmaClientError, type DtmaClient, type StatusReply } from '../../../packages/contract/src/index.ts'
import type { EnvironmentRow } from './database.ts'
import { FunctionErrorCode, HttpError } from './http.ts'

/** The agent's default listen port (dtma-contract.md: PORT). */
export const DEFAULT_AGENT_PORT = 30000
/** Status and lifecycle calls answer fast or not at all. */
export const STATUS_TIMEOUT_MS = 10_000
/** A deploy may pull an image first. */
export const DEPLOY_TIMEOUT_MS = 120_000

export interface AgentAccess {
  /** BACKEND_TO_DTMA_API_KEY */
  token: string
  /** The port agents listen on; tests point it at a loopback agent. */
  port: number
  /** Injected fetch for tests; the global one otherwise. */
  fetch?: typeof fetch
  /** Deadlines; STATUS_TIMEOUT_MS and DEPLOY_TIMEOUT_MS unless a test shortens them. */
  statusTimeoutMs?: number
  deployTimeoutMs?: number
}

export function agentClientFor(toolbox: EnvironmentRow, access: AgentAccess): DtmaClient {
  if (!toolbox.public_ip_address) {
    throw new HttpError(409, FunctionErrorCode.toolboxNotReady, `Toolbox '${toolbox.id}' has no IP address yet`)
  }
  const host = toolbox.public_ip_address.includes(':') ? `[${toolbox.public_ip_address}]` : toolbox.public_ip_address
  return createDtmaClient({
    baseUrl: `http://${host}:${access.port}`,
    token: access.token,
    timeoutMs: access.statusTimeoutMs ?? STATUS_TIMEOUT_MS,
    ...(access.fetch ? { fetch: access.fetch } : {})
  })
}

/** A thrown client error (no declared answer) as the caller's error. */
export function agentCallError(error: unknown): HttpError {
  if (!(error instanceof DtmaClientError)) throw error
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
    throw new HttpError(502, FunctionErrorCode.agentBadResponse, "DTMA hid its instances from GET /status: it did not accept the functions' BACKEND_TO_DTMA_API_KEY")
  }
  return body as StatusReply
}
