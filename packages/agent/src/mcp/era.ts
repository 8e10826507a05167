// The two eras of MCP on one endpoint. Up to 2025-11-25 a client opens a
// session (initialize, then Mcp-Session-Id on every request); from
// 2026-07-28 every request stands alone: no session, its protocol version,
// client info and capabilities in `_meta`, the same version in the
// MCP-Protocol-Version header, the method (and the tool, prompt or resource
// it names) in Mcp-Method and Mcp-Name. This file tells a stateless request
// from a session one and checks it as the 2026-07-28 transport says (each
// refusal: an HTTP status and a JSON-RPC error), and stamps the answers
// with what that revision adds to every result (resultType, caching hints).
// Pure: the routes and the stateless bridge (stateless-bridge.ts) use it.

export const STATELESS_VERSION = '2026-07-28'
export const STATELESS_VERSIONS = [STATELESS_VERSION]
/** The revisions of the initialize/session lifecycle. */
export const SESSION_VERSIONS = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25']

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId'
} as const

/** The 2026-07-28 error codes. */
export const ERA_ERRORS = { headerMismatch: -32020, missingCapability: -32021, unsupportedVersion: -32022 } as const

/** Methods a stateless client may send; the session era's own (initialize, ping, logging/setLevel, resources/(un)subscribe) are gone. */
export const STATELESS_METHODS = new Set([
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete'
])

/** Results a client may cache (SEP-2549): they carry ttlMs and cacheScope. */
const CACHEABLE = new Set(['server/discover', 'tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read'])

export type Json = Record<string, unknown>
export interface EraMessage {
  jsonrpc: '2.0'
  id?: string | number | null
  method?: string
  params?: Json
}

/** A refusal of a stateless request: its HTTP status and JSON-RPC error. */
export class EraRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly data?: unknown
  ) {
    super(message)
  }

  body(id: EraMessage['id']): Json {
    return { jsonrpc: '2.0', id: id ?? null, error: { code: this.code, message: this.message, ...(this.data !== undefined && { data: this.data }) } }
  }
}

type Headers = Record<string, string | string[] | undefined>
const one = (headers: Headers, name: string): string | undefined => {
  const value = headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** A request of the stateless era: no session named, and a protocol version in its header or `_meta` that is not a session one. */
export function isStateless(headers: Headers, body: unknown): boolean {
  if (one(headers, 'mcp-session-id') !== undefined || typeof body !== 'object' || body === null || Array.isArray(body)) return false
  const message = body as EraMessage
  const version = one(headers, 'mcp-protocol-version')
  const meta = message.params?._meta as Json | undefined
  if (meta?.[META.protocolVersion] !== undefined) return true
  return version !== undefined && !SESSION_VERSIONS.includes(version)
}

/** What Mcp-Name must say for a method: the tool or prompt name, the resource URI. */
export function nameOf(message: EraMessage): string | undefined {
  const params = message.params ?? {}
  if (message.method === 'tools/call' || message.method === 'prompts/get') return typeof params.name === 'string' ? params.name : undefined
  if (message.method === 'resources/read') return typeof params.uri === 'string' ? params.uri : undefined
  return undefined
}

/** Checks a stateless request as the 2026-07-28 transport says; throws an EraRefusal. Returns the client capabilities it declared. */
export function checkStateless(headers: Headers, message: EraMessage): Json {
  const version = one(headers, 'mcp-protocol-version')
  if (version === undefined) throw new EraRefusal(400, ERA_ERRORS.headerMismatch, 'Missing MCP-Protocol-Version header')
  const meta = message.params?._meta as Json | undefined
  const metaVersion = meta?.[META.protocolVersion]
  const capabilities = meta?.[META.clientCapabilities]
  if (typeof metaVersion !== 'string' || typeof capabilities !== 'object' || capabilities === null) {
    throw new EraRefusal(400, -32602, `Invalid params: _meta must carry ${META.protocolVersion} and ${META.clientCapabilities}`)
  }
  if (metaVersion !== version) throw new EraRefusal(400, ERA_ERRORS.headerMismatch, 'MCP-Protocol-Version header does not match the request _meta')
  if (!STATELESS_VERSIONS.includes(metaVersion)) {
    throw new EraRefusal(400, ERA_ERRORS.unsupportedVersion, 'Unsupported protocol version', { supported: STATELESS_VERSIONS, requested: metaVersion.slice(0, 40) })
  }
  checkNames(headers, message)
  if (message.id === undefined || message.id === null || typeof message.method !== 'string') throw new EraRefusal(400, -32600, 'a stateless request needs a method and an id')
  if (!STATELESS_METHODS.has(message.method)) throw new EraRefusal(404, -32601, `Method not found: ${message.method.slice(0, 100)}`)
  return capabilities as Json
}

/** Mcp-Method and Mcp-Name, when sent, say what the body says (a gateway may route by them; the agent reads the body). */
export function checkNames(headers: Headers, message: EraMessage): void {
  const method = one(headers, 'mcp-method')
  if (method !== undefined && method !== message.method) throw new EraRefusal(400, ERA_ERRORS.headerMismatch, 'Mcp-Method header does not match the request body')
  const name = one(headers, 'mcp-name')
  if (name !== undefined && name !== nameOf(message)) throw new EraRefusal(400, ERA_ERRORS.headerMismatch, 'Mcp-Name header does not match the request body')
}

/** The request as the server in the container sees it: the stateless era's own _meta keys and retry fields left out. */
export function forServer(message: EraMessage, id: string | number): EraMessage {
  const { _meta, inputResponses: _responses, requestState: _state, ...params } = message.params ?? {}
  const meta = Object.fromEntries(Object.entries((_meta as Json | undefined) ?? {}).filter(([key]) => !key.startsWith('io.modelcontextprotocol/')))
  return { jsonrpc: '2.0', id, method: message.method as string, params: Object.keys(meta).length > 0 ? { ...params, _meta: meta } : params }
}

/** A result as the 2026-07-28 revision writes it: resultType, and the caching hints of a cacheable one (private: a caller's grant shapes listings). */
export function stamped(method: string, result: Json, ttlMs = 0): Json {
  const out: Json = { ...result, resultType: result.resultType ?? 'complete' }
  if (CACHEABLE.has(method)) {
    out.ttlMs ??= ttlMs
    out.cacheScope ??= 'private'
  }
  return out
}

/** A relayed answer of a server that speaks 2026-07-28 but left resultType out of a result (absent means complete). */
export function withResultType(message: unknown): unknown {
  const { method, result } = (message ?? {}) as { method?: unknown; result?: unknown }
  if (method !== undefined || typeof result !== 'object' || result === null || 'resultType' in result) return message
  return { ...(message as Json), result: { ...(result as Json), resultType: 'complete' } }
}
