// The request and response shapes of the DTMA HTTP API, as typebox schemas.
// Shared by the agent (validation, serialization) and every client (types).
// No Node-only imports: this file is also loaded by Deno.
import Type, { type Static } from 'typebox'
import { BaseConfigOverride, Egress } from './deploy-override.ts'
import { McpInfo } from './mcp.ts'

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

/** A published port as every reader names it: DTMA's own fields and the
 *  Docker-style ones the DTMA console reads (ip, private_port, public_port, type). */
export const PortMapping = Type.Object({
  container_port: Type.Integer(),
  protocol: Type.String(),
  host_ip: Type.String(),
  host_port: Type.Integer(),
  ip: Type.String(),
  private_port: Type.Integer(),
  public_port: Type.Integer(),
  type: Type.String()
})
export type PortMapping = Static<typeof PortMapping>

/** A bound port with the Docker-style names beside DTMA's own. */
export function portMapping(port: { container_port: number; protocol: string; host_ip: string; host_port: number }): PortMapping {
  return { ...port, ip: port.host_ip, private_port: port.container_port, public_port: port.host_port, type: port.protocol }
}

// ---- requests ---------------------------------------------------------------

export const NameParams = Type.Object({ name: InstanceName })

/** Unknown top-level fields are refused with a 400 that names them (a
 *  misspelt or misplaced field, say `Privileged` at the top, is never
 *  silently dropped); inside the override, see BaseConfigOverride. */
export const DeployToolBody = Type.Object(
  {
    dockerImageUrl: ImageReference,
    instanceNameOnToolbox: InstanceName,
    accountToolInstanceId: AccountToolInstanceId,
    baseConfigOverrideJson: Type.Optional(Type.Union([BaseConfigOverride, Type.Null()], { description: 'null or absent: no override' })),
    forcePull: Type.Optional(Type.Boolean({ description: 'Pull even when the image is present locally' })),
    waitForMcp: Type.Optional(Type.Boolean({ description: "Answer only once the instance's MCP server answered initialize (its mcp object then carries the capabilities), or with a 504 that says it stays deployed" }))
  },
  { additionalProperties: false }
)
export type DeployToolBody = Static<typeof DeployToolBody>

/** The query of POST /tools: waitForMcp as a flag, for callers that cannot change the body. */
export const DeployQuery = Type.Object({ waitForMcp: Type.Optional(Type.Boolean()) }, { additionalProperties: false })

// ---- responses ----------------------------------------------------------------

export const ErrorBody = Type.Object({
  success: Type.Literal(false),
  error: Type.String(),
  code: Type.String(),
  /** Beside a word in `error` (network_policy_unavailable): the sentence. */
  message: Type.Optional(Type.String())
})
export type ErrorBody = Static<typeof ErrorBody>

/** The limits the container runs with (the agent's defaults, or what the deploy asked within its maxima). */
export const AppliedLimits = Type.Object({
  memory_bytes: Type.Integer(),
  cpus: Type.Number(),
  pids: Type.Integer()
})
export type AppliedLimits = Static<typeof AppliedLimits>

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
  health: Type.String({ description: "Docker health check state, or 'none'" }),
  mcp: Type.Union([McpInfo, Type.Null()]),
  limits: AppliedLimits,
  egress: Egress
})
export type ToolInstance = Static<typeof ToolInstance>

export const DeployToolData = Type.Object({
  container_id: Type.String(),
  instance_name_on_toolbox: Type.String(),
  account_tool_instance_id: Type.String(),
  image: Type.String(),
  ports: Type.Array(PortMapping),
  state: InstanceStatus,
  image_source: Type.Union([Type.Literal('local'), Type.Literal('pulled'), Type.Literal('local-after-failed-pull')]),
  mcp: Type.Union([McpInfo, Type.Null()]),
  limits: AppliedLimits,
  egress: Egress
})
export type DeployToolData = Static<typeof DeployToolData>

export const DeployToolReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  data: DeployToolData,
  warnings: Type.Optional(
    Type.Array(Type.String(), { description: 'what the agent did not do as asked: ignored override keys, a reassigned host port, a lowered limit, a differing dockerImage' })
  )
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
    used_bytes: Type.Integer(),
    active_bytes: Type.Integer({ description: 'memory in use by processes (what the DTMA console charts)' })
  }),
  disk: Type.Object({
    mount: Type.String(),
    total_bytes: Type.Integer(),
    used_bytes: Type.Integer(),
    free_bytes: Type.Integer()
  }),
  uptime_seconds: Type.Integer()
})
export type SystemMetrics = Static<typeof SystemMetrics>

/** The tool network policy in force (DTMA_NETWORK_POLICY): `enforced`, `degraded` (asked but its rules
 *  could not be installed: tools are not deployed or started then) or `off` (the operator's choice). */
export const NetworkPolicyState = Type.Object({
  state: Type.Union([Type.Literal('enforced'), Type.Literal('degraded'), Type.Literal('off')]),
  reason: Type.Optional(Type.String()),
  rules: Type.Integer({ description: 'rules the agent keeps installed (IPv4 and IPv6 together)' }),
  families: Type.Array(Type.Union([Type.Literal('ipv4'), Type.Literal('ipv6')]))
})
export type NetworkPolicyState = Static<typeof NetworkPolicyState>

export const StatusReply = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded')]),
  service: Type.Literal('DTMA'),
  version: Type.String(),
  dtma_version: Type.String(),
  commit: Type.String({ description: "the source commit the agent was built from ('unknown' outside a release build)" }),
  timestamp: Type.String(),
  reason: Type.Optional(Type.String()),
  environment: Type.Object({
    hasAuthToken: Type.Boolean(),
    hasApiKey: Type.Boolean(),
    hasApiBaseUrl: Type.Boolean(),
    port: Type.String({ description: "the agent's listen port, as text (the DTMA console reads it so)" })
  }),
  system_metrics: Type.Optional(SystemMetrics),
  cpu_load_percent: Type.Optional(Type.Number({ description: 'the same as system_metrics.cpu_load_percent' })),
  uptime_seconds: Type.Optional(Type.Integer({ description: 'the same as system_metrics.uptime_seconds' })),
  tool_instances: Type.Optional(Type.Array(ToolInstance)),
  tool_instances_hidden: Type.Optional(
    Type.Literal(true, { description: 'the caller had no valid token (DTMA_PUBLIC_STATUS=minimal): tool_instances is empty because it is hidden, not because there are none' })
  ),
  network_policy: Type.Optional(NetworkPolicyState),
  tls_fingerprint_sha256: Type.Optional(Type.String({ description: "SHA-256 of the certificate the agent serves HTTPS with (to a caller with a credential): compare it with the toolbox's row" }))
})
export type StatusReply = Static<typeof StatusReply>

/** The Docker engine as the agent sees it; `available: false` with the reason during an outage. */
export const DockerEngineInfo = Type.Union([
  Type.Object({
    available: Type.Literal(true),
    version: Type.String(),
    api_version: Type.String(),
    containers: Type.Object({ total: Type.Integer(), running: Type.Integer(), paused: Type.Integer(), stopped: Type.Integer() }),
    images: Type.Integer(),
    managed_instances: Type.Integer({ description: 'instances this agent manages' })
  }),
  Type.Object({ available: Type.Literal(false), reason: Type.String() })
])
export type DockerEngineInfo = Static<typeof DockerEngineInfo>

/** GET /system: the system metrics object (as earlier agents answered it),
 *  the Docker engine and the agent process. The engine and the agent are left
 *  out for callers without a token when DTMA_PUBLIC_STATUS=minimal (the default). */
export const SystemReply = Type.Object({
  timestamp: Type.String(),
  cpu_load_percent: Type.Optional(Type.Number()),
  load_average: Type.Optional(Type.Array(Type.Number())),
  memory: Type.Optional(SystemMetrics.properties.memory),
  disk: Type.Optional(SystemMetrics.properties.disk),
  uptime_seconds: Type.Optional(Type.Integer()),
  docker: Type.Optional(DockerEngineInfo),
  agent: Type.Optional(Type.Object({ version: Type.String(), commit: Type.String(), uptime_seconds: Type.Integer(), rss_bytes: Type.Integer() }))
})
export type SystemReply = Static<typeof SystemReply>

/** GET /logs without follow: the agent's own recent log lines (JSON text each, secrets redacted). */
export const AgentLogsReply = Type.Object({
  logs: Type.Array(Type.String()),
  timestamp: Type.String()
})

export const AgentLogsQuery = Type.Object(
  {
    tail: Type.Optional(Type.Integer({ minimum: 0, maximum: 10000, description: 'last N lines (default 100, at most 10000)' })),
    follow: Type.Optional(Type.Boolean({ description: 'stream the tail, then new lines as text, until the client closes' }))
  },
  { additionalProperties: false }
)
export type AgentLogsQuery = Static<typeof AgentLogsQuery>

export const AgentLogsStreamReply = Type.String({ description: 'one JSON log line per line, secrets redacted' })

/** 202: the agent accepted a request it carries out after answering. */
export const AcceptedReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String()
})

export const HealthReply = Type.String({ description: 'the text OK' })

export const ReadyReply = Type.Object({
  ready: Type.Literal(true),
  instances: Type.Optional(Type.Integer({ description: 'instances known after the first reconcile (left out for callers without a token when DTMA_PUBLIC_STATUS=minimal)' }))
})
