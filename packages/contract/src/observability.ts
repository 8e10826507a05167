// The shapes of DTMA's observability routes: container logs, the event
// stream, the OpenAPI document and metrics, as typebox schemas (the rest of
// the API's shapes are in schemas.ts). No Node-only imports: Deno loads it.
import Type, { type Static } from 'typebox'
import { InstanceName, ToolInstance } from './schemas.ts'

/** Query values arrive as text; the agent converts them to these types
 *  before validating, so callers pass numbers and booleans. */
export const LogsQuery = Type.Object(
  {
    tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, description: 'last N lines (default 100, at most 10000)' })),
    since: Type.Optional(Type.Integer({ minimum: 0, maximum: 4102444800, description: 'only lines after this time, unix seconds' })),
    follow: Type.Optional(Type.Boolean({ description: 'keep streaming new lines until the client closes' }))
  },
  { additionalProperties: false }
)
export type LogsQuery = Static<typeof LogsQuery>

export const LogsReply = Type.String({ description: "the container's stdout and stderr, demultiplexed, as text" })

export const EventsQuery = Type.Object({ name: Type.Optional(InstanceName) }, { additionalProperties: false })

export const EventStreamReply = Type.String({
  description:
    'server-sent events: `instance` (InstanceEvent JSON) for the current view and every change, `pull` (PullProgressEvent JSON) while an image is pulled, `mcp` (McpEvent JSON) when an MCP server\'s status, tool fingerprint or withheld tools change (kind drift: the drift lock saw tools change since approval), `upgrade` (UpgradeEvent JSON) while the agent upgrades itself and its outcome, `audit` (AuditEvent JSON) for each MCP call once its outcome is known (to a token with logs:read)'
})

/** SSE `instance` event: an instance's view after a change; null: it is gone. */
export const InstanceEvent = Type.Object({
  instanceName: Type.String(),
  instance: Type.Union([ToolInstance, Type.Null()])
})
export type InstanceEvent = Static<typeof InstanceEvent>

/** SSE `pull` event: Docker's progress of the image pull of a deploy. */
export const PullProgressEvent = Type.Object({
  instanceName: Type.String(),
  image: Type.String(),
  status: Type.String({ description: "Docker's word: Pulling fs layer, Downloading, Pull complete, ..." }),
  layer: Type.Optional(Type.String()),
  current: Type.Optional(Type.Integer({ description: 'bytes' })),
  total: Type.Optional(Type.Integer({ description: 'bytes' }))
})
export type PullProgressEvent = Static<typeof PullProgressEvent>

export const OpenApiReply = Type.Object(
  { openapi: Type.String(), info: Type.Object({ title: Type.String(), version: Type.String() }), paths: Type.Record(Type.String(), Type.Unknown()) },
  { additionalProperties: true, description: 'OpenAPI 3 document of every route' }
)

export const HtmlReply = Type.String({ description: 'an HTML page' })

export const MetricsReply = Type.String({ description: 'Prometheus text exposition format' })
