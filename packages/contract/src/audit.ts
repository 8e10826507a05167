// The audit trail of MCP calls: what GET /audit answers, what an `audit`
// event carries, and the rows a toolbox mirrors into dtma_mcp_audit through
// the `registry` function. A call's arguments are never in it: only the
// SHA-256 of their canonical JSON. Loads in Node and Deno.
import Type, { type Static } from 'typebox'
import type { RouteDefinition } from './routes.ts'
import { ErrorBody, InstanceName } from './schemas.ts'
import { Scope } from './token.ts'

export const AuditOutcome = Type.Union([Type.Literal('ok'), Type.Literal('tool-error'), Type.Literal('protocol-error'), Type.Literal('refused'), Type.Literal('lost')], {
  description: 'ok; tool-error: the result says isError; protocol-error: a JSON-RPC error (error_code); refused: the agent answered without the server (reason: DTMA_TOOL_NOT_GRANTED, ...); lost: no answer came (session closed, server gone)'
})
export type AuditOutcome = Static<typeof AuditOutcome>

export const AuditedMethod = Type.Union([Type.Literal('tools/call'), Type.Literal('resources/read'), Type.Literal('prompts/get')])

const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', maxLength: 36 })

/** One call, as the agent keeps it and the registry mirrors it. */
export const AuditRecord = Type.Object(
  {
    id: Uuid,
    at: Type.String({ maxLength: 64, description: 'when the request reached the agent (ISO 8601)' }),
    caller: Type.String({ maxLength: 256, description: 'the token\'s subject, "fleet key", or "anonymous"' }),
    instance_name_on_toolbox: Type.String({ maxLength: 256 }),
    account_tool_instance_id: Type.Union([Uuid, Type.Null()]),
    method: AuditedMethod,
    target: Type.String({ maxLength: 256, description: 'the tool name, resource URI or prompt name' }),
    listed: Type.Boolean({ description: "whether the server's last listing showed it" }),
    args_sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the canonical JSON of the arguments (never the values)' }),
    duration_ms: Type.Number({ minimum: 0 }),
    outcome: AuditOutcome,
    error_code: Type.Union([Type.Integer(), Type.Null()]),
    reason: Type.Union([Type.String({ maxLength: 256 }), Type.Null()])
  },
  { additionalProperties: false }
)
export type AuditRecord = Static<typeof AuditRecord>

/** Query values arrive as text; the agent converts them. */
export const AuditQuery = Type.Object(
  {
    instance: Type.Optional(InstanceName),
    subject: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'the caller as recorded (a token subject, or "fleet key")' })),
    since: Type.Optional(Type.Number({ minimum: 0, maximum: 4102444800, description: 'calls at or after this time, unix seconds' })),
    until: Type.Optional(Type.Number({ minimum: 0, maximum: 4102444800, description: 'calls before this time, unix seconds' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'at most this many, newest first (default 100)' }))
  },
  { additionalProperties: false }
)
export type AuditQuery = Static<typeof AuditQuery>

export const AuditReply = Type.Object({ success: Type.Literal(true), data: Type.Array(AuditRecord) })
export type AuditReply = Static<typeof AuditReply>

/** SSE `audit` event: one call, once its outcome is known. */
export const AuditEvent = AuditRecord
export type AuditEvent = AuditRecord

/** The most rows one POST registry { operation: 'audit' } carries. */
export const MAX_AUDIT_BATCH = 200

/** Spread into the route table (routes.ts). */
export const auditRoutes = {
  audit: {
    method: 'GET',
    path: '/audit',
    auth: 'bearer',
    scope: [Scope.logsRead],
    summary:
      'The audit trail of MCP calls (tools/call, resources/read, prompts/get on every MCP endpoint), newest first: time, caller (token subject or "fleet key"), instance, tool/URI/prompt, SHA-256 of the arguments (never their values), duration, outcome. Filters: instance, subject, since, until (unix seconds), limit',
    querystring: AuditQuery,
    responses: { 200: AuditReply, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody }
  }
} as const satisfies Record<string, RouteDefinition>
