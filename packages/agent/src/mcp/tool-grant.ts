// What a caller's credential lets it use of one MCP server: the tools it
// names, or all of them. The rules on messages, whatever the transport: a
// tools/call of a tool not granted never reaches the server and is answered
// with a JSON-RPC error that says so; a tools/list answer (a page of it: the
// cursor passes as the server wrote it) shows only the granted tools; so
// does what the monitor last listed (GET /tools/:name/capabilities).
// The server's drift lock (drift-lock.ts), when the MCP service adds it,
// refuses and cuts the same way the tools it withholds, with a sentence of
// its own; a tool not granted is refused as such first.
import { ErrorCode as DtmaCode } from '@dtma/contract'
import { ErrorCode, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js'
import type { ToolLock } from './drift-lock.ts'

export interface McpAccess {
  /** The tool names the caller may list and call; undefined: every tool. */
  tools?: ReadonlySet<string>
  /** Who calls, for the audit trail: the token's subject, "fleet key", or "anonymous" (undefined). */
  caller?: string
  /** The server's drift lock (filled in by the MCP service): tools withheld since their definition changed. */
  lock?: ToolLock
}

type Message = { id?: RequestId; method?: string; params?: { name?: unknown }; result?: { tools?: unknown } }

/** A message the caller may not send: a tools/call (request or not) of a tool the access does not name. */
export function isRefusedCall(message: unknown, access: McpAccess): boolean {
  const { method, params } = message as Message
  if (method !== 'tools/call') return false
  if (typeof params?.name !== 'string') return access.tools !== undefined
  return (access.tools !== undefined && !access.tools.has(params.name)) || access.lock?.withholds(params.name) === true
}

/** The JSON-RPC error a refused tools/call is answered with (none for a notification: nothing answers it). */
export function refusalOf(message: unknown, access: McpAccess = {}): JSONRPCMessage | undefined {
  const { id, params } = message as Message
  if (id === undefined) return undefined
  const granted = typeof params?.name === 'string' && (access.tools === undefined || access.tools.has(params.name))
  if (granted && access.lock !== undefined) {
    return { jsonrpc: '2.0', id, error: { code: ErrorCode.InvalidParams, message: access.lock.sentence(params.name as string), data: { code: DtmaCode.toolWithheld } } }
  }
  const name = typeof params?.name === 'string' ? JSON.stringify(params.name.slice(0, 100)) : 'without a name'
  // The same sentence whether or not the server has such a tool: a token does not learn what it was not granted.
  const error = { code: ErrorCode.InvalidParams, message: `tool ${name} is not granted to this token`, data: { code: DtmaCode.toolNotGranted } }
  return { jsonrpc: '2.0', id, error }
}

/** The tools of a listing the access grants. */
export function grantedOnly<T>(tools: T[], access: McpAccess): T[] {
  const { tools: allowed, lock } = access
  if (allowed === undefined && lock === undefined) return tools
  return tools.filter((tool) => {
    const name = (tool as { name?: unknown } | null)?.name
    if (allowed !== undefined && (typeof name !== 'string' || !allowed.has(name))) return false
    return lock === undefined || lock.shows(tool)
  })
}

/** A tools/list answer with the granted tools only; any other message as it is. */
export function withGrantedTools<M>(message: M, access: McpAccess): M {
  const result = (message as Message).result
  if ((access.tools === undefined && access.lock === undefined) || !Array.isArray(result?.tools)) return message
  return { ...message, result: { ...result, tools: grantedOnly(result.tools, access) } }
}
