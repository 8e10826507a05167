// The function's own routes, read from the path after `/toolbox-tools`
// (Supabase serves it at /functions/v1/toolbox-tools/...), and from the body
// for the body-only forms the frontend sends through supabase.functions.invoke:
//   GET    /{toolboxId}/tools                            the rows, a bare array
//   POST   /{toolboxId}/tools                            deploy a catalog tool
//   POST   /{toolboxId}/tools/{instanceId}/start|stop|restart
//   GET    /{toolboxId}/tools/{instanceId}/logs[?tail=N] (POST too: invoke's default)
//   DELETE /{toolboxId}/tools/{instanceId}               remove
//   POST   /{toolboxId}/tools/{instanceId}/mcp-access { tools?, lifetimeSeconds? }
//                                                       the MCP endpoint and an `mcp` token for it
//   POST   /{toolboxId}   { action?, instanceId?, tail?, tools?, lifetimeSeconds? }
//   POST   /              { toolboxId, action?, instanceId?, tail?, tools?, lifetimeSeconds? }
// A body form without an action is the live list the health monitor reads.
import Type from 'typebox'
import { Value } from 'typebox/value'
import { TOKEN_MAX_LIFETIME_S } from '../../../packages/contract/src/index.ts'
import { FunctionErrorCode, HttpError } from '../_shared/http.ts'
import { validated } from '../_shared/validation.ts'

export const INSTANCE_ACTIONS = ['start', 'stop', 'restart', 'logs', 'delete', 'mcp-access'] as const
export type InstanceAction = (typeof INSTANCE_ACTIONS)[number]

export type ToolboxRoute =
  | { action: 'list-rows' | 'list-live' | 'deploy'; toolboxId: string }
  | { action: Exclude<InstanceAction, 'mcp-access'>; toolboxId: string; instanceId: string; tail?: number }
  | { action: 'mcp-access'; toolboxId: string; instanceId: string; tools?: string[]; lifetimeSeconds?: number }

/** A route read from the path alone, or a body form still to be read. */
export type PathMatch = { route: ToolboxRoute } | { bodyForm: { toolboxId?: string } }

const FUNCTION_NAME = 'toolbox-tools'
const MAX_LOG_LINES = 10_000

const Tail = Type.Integer({ minimum: 1, maximum: MAX_LOG_LINES })
/** mcp-access: the tools the token opens (MCP tool names), and a shorter life than the setting's. */
const McpAccessFields = {
  tools: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 256, uniqueItems: true })),
  lifetimeSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: TOKEN_MAX_LIFETIME_S.mcp }))
}
const BodyForm = Type.Object({
  toolboxId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  action: Type.Optional(Type.Union(INSTANCE_ACTIONS.map((action) => Type.Literal(action)))),
  instanceId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  tail: Type.Optional(Tail),
  ...McpAccessFields
})
const McpAccessBody = Type.Object(McpAccessFields, { additionalProperties: false })

export function matchPath(method: string, url: URL): PathMatch | null {
  const segments = url.pathname.split('/').filter((segment) => segment !== '').map(decodeURIComponent)
  const start = segments.indexOf(FUNCTION_NAME)
  const [toolboxId, tools, instanceId, verb, ...extra] = start === -1 ? segments : segments.slice(start + 1)
  if (toolboxId === undefined) return method === 'POST' ? { bodyForm: {} } : null
  if (tools === undefined) return method === 'POST' ? { bodyForm: { toolboxId } } : null
  if (tools !== 'tools' || extra.length > 0) return null
  if (instanceId === undefined) {
    if (method === 'GET') return { route: { action: 'list-rows', toolboxId } }
    if (method === 'POST') return { route: { action: 'deploy', toolboxId } }
    return null
  }
  if (verb === undefined) return method === 'DELETE' ? { route: { action: 'delete', toolboxId, instanceId } } : null
  if (method === 'POST' && (verb === 'start' || verb === 'stop' || verb === 'restart')) return { route: { action: verb, toolboxId, instanceId } }
  if (method === 'POST' && verb === 'mcp-access') return { route: { action: 'mcp-access', toolboxId, instanceId } }
  if ((method === 'GET' || method === 'POST') && verb === 'logs') {
    const tail = url.searchParams.get('tail')
    if (tail === null) return { route: { action: 'logs', toolboxId, instanceId } }
    if (!/^[0-9]{1,5}$/.test(tail) || !Value.Check(Tail, Number(tail))) throw new HttpError(400, FunctionErrorCode.badRequest, `tail must be a number of lines from 1 to ${MAX_LOG_LINES}`)
    return { route: { action: 'logs', toolboxId, instanceId, tail: Number(tail) } }
  }
  return null
}

export function parseBodyForm(input: unknown, pathToolboxId: string | undefined): ToolboxRoute {
  const body = validated(BodyForm, input, `request (action is one of ${INSTANCE_ACTIONS.join(', ')})`)
  if (pathToolboxId !== undefined && body.toolboxId !== undefined && body.toolboxId !== pathToolboxId) {
    throw new HttpError(400, FunctionErrorCode.badRequest, 'toolboxId in the body differs from the one in the path: send one')
  }
  const toolboxId = pathToolboxId ?? body.toolboxId
  if (toolboxId === undefined) {
    throw new HttpError(400, FunctionErrorCode.badRequest, 'toolboxId is required, in the path (toolbox-tools/{toolboxId}) or in the body')
  }
  if (body.action === undefined) return { action: 'list-live', toolboxId }
  if (body.instanceId === undefined) throw new HttpError(400, FunctionErrorCode.badRequest, `instanceId is required with action '${body.action}'`)
  if (body.action === 'mcp-access') return { action: 'mcp-access', toolboxId, instanceId: body.instanceId, ...mcpAccessFields(body) }
  return { action: body.action, toolboxId, instanceId: body.instanceId, ...(body.tail !== undefined && { tail: body.tail }) }
}

/** The path form's body of mcp-access (may be empty). */
export function parseMcpAccessBody(input: unknown): { tools?: string[]; lifetimeSeconds?: number } {
  return mcpAccessFields(validated(McpAccessBody, input, 'mcp-access request (tools: tool names, lifetimeSeconds)'))
}

function mcpAccessFields(body: { tools?: string[]; lifetimeSeconds?: number }): { tools?: string[]; lifetimeSeconds?: number } {
  return { ...(body.tools !== undefined && { tools: body.tools }), ...(body.lifetimeSeconds !== undefined && { lifetimeSeconds: body.lifetimeSeconds }) }
}
