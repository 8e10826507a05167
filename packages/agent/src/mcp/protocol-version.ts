// The protocol version of each caller session of a multiplexed server, and
// what crosses from the server's version to an older session's. A session
// gets the version it asks for when the agent can serve it: one the official
// SDK supports and no newer than the server's (what a newer version adds
// cannot be made up, what an older one lacks can be left out); otherwise the
// server's own. On the way to an older session, what its version does not
// know is left out: methods (elicitation before 2025-06-18; tasks and URL
// elicitation before 2025-11-25), and fields of the results it reads, per
// the specification's changelogs:
//   2025-03-26  tool annotations, audio content, the progress message, the completions capability
//   2025-06-18  title (tools, prompts, resources, templates, server info), outputSchema,
//               structuredContent, resource_link content, elicitation
//   2025-11-25  icons, server info description and websiteUrl, tool execution, tasks
// Only listed shapes are touched: a "title" inside a tool's JSON Schema stays.
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js'

export const V2025_03 = '2025-03-26'
export const V2025_06 = '2025-06-18'
export const V2025_11 = '2025-11-25'

type Json = Record<string, unknown>

/** The version a session asking for `requested` is served, over a server speaking `server`. */
export function negotiateVersion(requested: unknown, server: string): string {
  if (typeof requested !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(requested)) return server
  // Versions are dates: later ones sort after earlier ones.
  return requested <= server ? requested : server
}

/** Methods a server sends (requests and notifications) that a version does not know. */
const METHOD_SINCE: Record<string, string> = {
  'elicitation/create': V2025_06,
  'notifications/elicitation/complete': V2025_11,
  'notifications/tasks/status': V2025_11,
  'tasks/get': V2025_11,
  'tasks/list': V2025_11,
  'tasks/result': V2025_11,
  'tasks/cancel': V2025_11
}

export function knowsMethod(version: string, method: string): boolean {
  const since = METHOD_SINCE[method]
  return since === undefined || version >= since
}

/** Fields of one shape, with the version that added each. */
type Fields = Array<[field: string, since: string]>

const TITLED: Fields = [
  ['title', V2025_06],
  ['icons', V2025_11]
]
const TOOL: Fields = [...TITLED, ['annotations', V2025_03], ['outputSchema', V2025_06], ['execution', V2025_11]]
const IMPLEMENTATION: Fields = [...TITLED, ['description', V2025_11], ['websiteUrl', V2025_11]]
const SERVER_CAPABILITIES: Fields = [
  ['completions', V2025_03],
  ['tasks', V2025_11]
]
const TOOL_RESULT: Fields = [['structuredContent', V2025_06]]
const PROGRESS: Fields = [['message', V2025_03]]
/** Content types, by the version that added them. */
const CONTENT_SINCE: Record<string, string> = { audio: V2025_03, resource_link: V2025_06 }

function without(value: unknown, fields: Fields, version: string): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const newer = fields.filter(([field, since]) => version < since && field in value)
  if (newer.length === 0) return value
  const copy = { ...(value as Json) }
  for (const [field] of newer) delete copy[field]
  return copy
}

function each(list: unknown, fields: Fields, version: string): unknown {
  return Array.isArray(list) ? list.map((item) => without(item, fields, version)) : list
}

function content(list: unknown, version: string): unknown {
  if (!Array.isArray(list)) return list
  return list.filter((item) => {
    const since = CONTENT_SINCE[(item as Json | null)?.type as string]
    return since === undefined || version >= since
  })
}

/** A result of `method` as a session of `version` may read it. */
export function resultFor(method: string, result: unknown, version: string): unknown {
  if (version >= V2025_11 || typeof result !== 'object' || result === null) return result
  const r = result as Json
  switch (method) {
    case 'initialize':
      return { ...r, serverInfo: without(r.serverInfo, IMPLEMENTATION, version), capabilities: without(r.capabilities, SERVER_CAPABILITIES, version) }
    case 'tools/list':
      return { ...r, tools: each(r.tools, TOOL, version) }
    case 'tools/call':
      return { ...(without(r, TOOL_RESULT, version) as Json), ...('content' in r && { content: content(r.content, version) }) }
    case 'prompts/list':
      return { ...r, prompts: each(r.prompts, TITLED, version) }
    case 'prompts/get':
      return Array.isArray(r.messages) ? { ...r, messages: r.messages.filter((m: Json) => (content([m.content], version) as unknown[]).length > 0) } : r
    case 'resources/list':
      return { ...r, resources: each(r.resources, TITLED, version) }
    case 'resources/templates/list':
      return { ...r, resourceTemplates: each(r.resourceTemplates, TITLED, version) }
    default:
      return result
  }
}

/** A notification's params as a session of `version` may read them. */
export function notificationFor(method: string, params: Json, version: string): Json {
  return method === 'notifications/progress' ? (without(params, PROGRESS, version) as Json) : params
}
