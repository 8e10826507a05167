// The request and response shapes of the DTMA HTTP API, as typebox schemas.
// Shared by the agent (validation, serialization) and every client (types).
// No Node-only imports: this file is also loaded by Deno.
import Type, { type Static } from 'typebox'

// ---- bounded primitives: every string has a max length -------------------

/** The caller's name for an instance, e.g. "Context7 MCP Server-1750278276605".
 *  Spaces and capitals are allowed; control characters, slashes and
 *  backslashes are not (they would escape the URL segment). */
export const InstanceName = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[^\\u0000-\\u001f\\u007f/\\\\]+$',
  description: "The caller's name of the tool instance"
})

// Docker's reference grammar (distribution/reference). The first part is a
// registry only when it has a dot or a port or is localhost, as Docker reads
// it; otherwise it is a lower-case path component. No `..` or empty segment
// can pass: an image name ends up in a Docker API path.
const DOMAIN_COMPONENT = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?'
const REGISTRY = `(?:(?:localhost|${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})+)(?::[0-9]{1,5})?|${DOMAIN_COMPONENT}:[0-9]{1,5})`
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'

/** [registry/]repository[:tag][@sha256:digest], lower-case repository path as Docker requires. */
export const ImageReference = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: `^(?:${REGISTRY}/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
  description: 'Docker image reference: [registry/]repository[:tag][@sha256:digest]'
})

/** Usually a uuid; it goes on a container label, so no control characters. */
export const AccountToolInstanceId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001f\\u007f]+$' })

/** One environment entry "KEY=value"; the key is a POSIX-style name. A NUL
 *  byte cannot live in a process environment, so it is refused here rather
 *  than by Docker. */
export const EnvEntry = Type.String({
  maxLength: 32768,
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,255}=[^\\u0000]*$',
  description: 'KEY=value'
})

/** Sum of the lengths of all Env entries of one deploy (checked by the agent:
 *  JSON Schema cannot add up lengths). */
export const MAX_ENV_TOTAL_CHARS = 256 * 1024

/** Docker's API takes HostPort as a string; a number is accepted too. The
 *  address is never the caller's: ports bind to the agent's DTMA_TOOL_HOST_IP. */
export const HostPortBinding = Type.Object(
  {
    HostPort: Type.Union([Type.String({ pattern: '^[0-9]{1,5}$', maxLength: 5 }), Type.Integer({ minimum: 1, maximum: 65535 })])
  },
  { additionalProperties: false }
)

/** Keys such as "8080/tcp"; tcp when no protocol is named. */
export const ContainerPortKey = Type.String({ pattern: '^[0-9]{1,5}(/(tcp|udp))?$', maxLength: 9 })

export const PortBindings = Type.Record(ContainerPortKey, Type.Array(HostPortBinding, { minItems: 1, maxItems: 4 }), {
  additionalProperties: false,
  maxProperties: 32
})

/** The part of Docker's create options a caller may set. Anything else
 *  (Privileged, Binds, CapAdd, NetworkMode, Devices, ...), at either level,
 *  is refused with a 400 that names it: the sandbox is not negotiable. */
export const BaseConfigOverride = Type.Object(
  {
    Env: Type.Optional(Type.Array(EnvEntry, { maxItems: 256 })),
    HostConfig: Type.Optional(Type.Object({ PortBindings: Type.Optional(PortBindings) }, { additionalProperties: false }))
  },
  { additionalProperties: false }
)

export const InstanceStatus = Type.Union(
  [
    Type.Literal('pending'),
    Type.Literal('starting'),
    Type.Literal('running'),
    Type.Literal('stopping'),
    Type.Literal('stopped'),
    Type.Literal('error')
  ],
  { description: 'DTMA status; the raw Docker state is in docker_status' }
)
export type InstanceStatus = Static<typeof InstanceStatus>

export const DesiredState = Type.Union([Type.Literal('running'), Type.Literal('stopped')])
export type DesiredState = Static<typeof DesiredState>

export const PortMapping = Type.Object({
  container_port: Type.Integer(),
  protocol: Type.String(),
  host_ip: Type.String(),
  host_port: Type.Integer()
})
export type PortMapping = Static<typeof PortMapping>

// ---- requests ---------------------------------------------------------------

export const NameParams = Type.Object({ name: InstanceName })

/** Unknown fields are refused with a 400 that names them (a misspelt or
 *  misplaced field, say `Privileged` at the top, is never silently dropped). */
export const DeployToolBody = Type.Object(
  {
    dockerImageUrl: ImageReference,
    instanceNameOnToolbox: InstanceName,
    accountToolInstanceId: AccountToolInstanceId,
    baseConfigOverrideJson: Type.Optional(BaseConfigOverride),
    forcePull: Type.Optional(Type.Boolean({ description: 'Pull even when the image is present locally' }))
  },
  { additionalProperties: false }
)
export type DeployToolBody = Static<typeof DeployToolBody>

// ---- responses ----------------------------------------------------------------

export const ErrorBody = Type.Object({
  success: Type.Literal(false),
  error: Type.String(),
  code: Type.String()
})
export type ErrorBody = Static<typeof ErrorBody>

export const ToolInstance = Type.Object({
  account_tool_instance_id: Type.String(),
  instance_name_on_toolbox: Type.String(),
  container_id: Type.String(),
  container_name: Type.String(),
  image: Type.String(),
  ports: Type.Array(PortMapping),
  created: Type.Integer({ description: 'unix seconds' }),
  status: InstanceStatus,
  desired_state: DesiredState,
  docker_status: Type.String(),
  health: Type.String({ description: "Docker health check state, or 'none'" })
})
export type ToolInstance = Static<typeof ToolInstance>

export const DeployToolData = Type.Object({
  container_id: Type.String(),
  instance_name_on_toolbox: Type.String(),
  account_tool_instance_id: Type.String(),
  image: Type.String(),
  ports: Type.Array(PortMapping),
  state: InstanceStatus,
  image_source: Type.Union([Type.Literal('local'), Type.Literal('pulled'), Type.Literal('local-after-failed-pull')])
})
export type DeployToolData = Static<typeof DeployToolData>

export const DeployToolReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  data: DeployToolData
})

export const StateReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  data: Type.Object({ state: InstanceStatus })
})

export const MessageReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String()
})

export const ToolListReply = Type.Object({
  success: Type.Literal(true),
  data: Type.Array(ToolInstance)
})

export const ToolReply = Type.Object({
  success: Type.Literal(true),
  data: ToolInstance
})

export const SystemMetrics = Type.Object({
  cpu_load_percent: Type.Number(),
  load_average: Type.Array(Type.Number()),
  memory: Type.Object({
    total_bytes: Type.Integer(),
    free_bytes: Type.Integer(),
    used_bytes: Type.Integer()
  }),
  uptime_seconds: Type.Integer()
})
export type SystemMetrics = Static<typeof SystemMetrics>

export const StatusReply = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded')]),
  service: Type.Literal('DTMA'),
  version: Type.String(),
  dtma_version: Type.String(),
  timestamp: Type.String(),
  reason: Type.Optional(Type.String()),
  environment: Type.Object({
    hasAuthToken: Type.Boolean(),
    hasApiKey: Type.Boolean(),
    hasApiBaseUrl: Type.Boolean(),
    port: Type.Integer()
  }),
  system_metrics: Type.Optional(SystemMetrics),
  tool_instances: Type.Optional(Type.Array(ToolInstance))
})
export type StatusReply = Static<typeof StatusReply>

export const HealthReply = Type.String({ description: 'the text OK' })

export const ReadyReply = Type.Object({
  ready: Type.Literal(true),
  instances: Type.Integer({ description: 'instances known after the first reconcile' })
})

// ---- observability: logs, events, OpenAPI, metrics -----------------------------

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
  description: 'server-sent events: `instance` (InstanceEvent JSON) for the current view and every change, `pull` (PullProgressEvent JSON) while an image is pulled'
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
