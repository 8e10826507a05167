// `baseConfigOverrideJson` of a deploy, as Agentopia's services really store
// and send it: Docker-shaped (`Env`, `HostConfig.PortBindings`), service-shaped
// (`dockerImage`, `environmentVariables`, `portMappings`, `mcp*`,
// `resourceLimits`, metadata), or both mixed, and often `null`. Every known
// key is typed here; `null` for a key is the same as leaving it out. Keys the
// schema does not know are judged by the agent: a Docker field it would have
// to apply (`Cmd`, `User`, `Privileged`, ...) is refused with a 400 naming it,
// anything else is ignored and named in the answer's `warnings`.
// No Node-only imports: this file is also loaded by Deno.
import Type, { type Static, type TSchema } from 'typebox'

/** `null` is how a stored JSON column says "not set". */
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

/** One environment entry "KEY=value"; the key is a POSIX-style name. A NUL
 *  byte cannot live in a process environment, so it is refused here rather
 *  than by Docker. */
export const EnvEntry = Type.String({
  maxLength: 32768,
  pattern: '^[A-Za-z_][A-Za-z0-9_]{0,255}=[^\\u0000]*$',
  description: 'KEY=value'
})

/** Sum of the lengths of all environment entries of one deploy (checked by
 *  the agent: JSON Schema cannot add up lengths). */
export const MAX_ENV_TOTAL_CHARS = 256 * 1024

export const EnvName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,255}$' })

/** A container port as callers send it: 8080 or "8080". */
export const ContainerPortNumber = Type.Union([Type.Integer({ minimum: 1, maximum: 65535 }), Type.String({ pattern: '^[0-9]{1,5}$', maxLength: 5 })])

/** A host port as callers send it. 0, "" or null ask DTMA for one from its
 *  tool port range; the agent's own port, or one another instance holds, is
 *  replaced by a free one (the answer says so). */
export const RequestedHostPort = Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Type.String({ pattern: '^[0-9]{0,5}$', maxLength: 5 }), Type.Null()])

/** Docker's shape. The address is never the caller's: ports bind to the
 *  agent's DTMA_TOOL_HOST_IP. */
export const HostPortBinding = Type.Object({ HostPort: Type.Optional(RequestedHostPort) }, { additionalProperties: false })

/** Keys such as "8080/tcp"; tcp when no protocol is named. */
export const ContainerPortKey = Type.String({ pattern: '^[0-9]{1,5}(/(tcp|udp))?$', maxLength: 9 })

export const PortBindings = Type.Record(ContainerPortKey, Type.Array(HostPortBinding, { minItems: 1, maxItems: 4 }), {
  additionalProperties: false,
  maxProperties: 32
})

/** Service shape of one published port. */
export const PortMappingRequest = Type.Object(
  {
    containerPort: ContainerPortNumber,
    hostPort: Type.Optional(RequestedHostPort),
    protocol: Type.Optional(Type.String({ pattern: '^(tcp|udp|TCP|UDP)$' }))
  },
  { additionalProperties: false }
)

/** The Host header an http or sse server is sent (a server on the SDK's
 *  DNS-rebinding protection refuses any other); default localhost:<mcpPort>. */
export const McpHost = Type.String({ pattern: '^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$|^\\[[0-9A-Fa-f:.]{2,45}\\](:[0-9]{1,5})?$', maxLength: 260, description: 'Host header sent to an http or sse server, default localhost:<mcpPort>' })

/** An HTTP header name (RFC 9110 token). */
const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$", maxLength: 128 })
/** A header value: no line break, no NUL. */
const HeaderValue = Type.String({ minLength: 1, maxLength: 8192, pattern: '^[^\\r\\n\\u0000]+$' })

/** The credential DTMA sends an http or sse server on every request of its
 *  own (the proxy's, the health check's); kept like env values: in the
 *  agent's store only, never on a label, in a log, an event, the registry or
 *  an answer. The caller's own Authorization is never passed on. */
export const McpAuth = Type.Union(
  [
    Type.Object({ header: HeaderName, value: HeaderValue }, { additionalProperties: false }),
    Type.Object({ bearer: Type.String({ minLength: 1, maxLength: 8192, pattern: '^[\\x21-\\x7e]+$' }) }, { additionalProperties: false })
  ],
  { description: '{ header, value }: this header with this value; { bearer }: Authorization: Bearer <bearer>' }
)
export type McpAuth = Static<typeof McpAuth>

export const McpTransport = Type.Union([Type.Literal('stdio'), Type.Literal('http'), Type.Literal('sse')], {
  description: 'How the MCP server in the container speaks: stdio, http (Streamable HTTP) or sse'
})
export type McpTransport = Static<typeof McpTransport>

/** What the drift lock does when a tool's definition changes after approval:
 *  `lock` (the default) withholds the tool until an operator approves it;
 *  `auto-approve` pins every change at once (still an `mcp` event). */
export const McpDrift = Type.Union([Type.Literal('lock'), Type.Literal('auto-approve')], {
  description: 'lock (default): a tool whose definition changed since approval is withheld until approved; auto-approve: every change is pinned at once (still reported)'
})
export type McpDrift = Static<typeof McpDrift>

/** A size as Agentopia writes it ("512m", "1g", "256Mi", "1Gi"), or a number of bytes. */
export const MemorySize = Type.Union([
  Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?\\s*([bB]|[kKmMgGtT]i?[bB]?)?$', maxLength: 24 }),
  Type.Number({ exclusiveMinimum: 0 })
])

/** CPUs as a number or numeric text ("0.5"). */
export const CpuCount = Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?$', maxLength: 16 })])

/** Asked limits, applied up to the agent's configured maxima (a larger ask is
 *  lowered, and the answer says so). `cpu` is the spelling Agentopia's
 *  services use; `storage` is accepted and not applied. */
export const ResourceLimitsRequest = Type.Object(
  {
    memory: Type.Optional(Nullable(MemorySize)),
    cpus: Type.Optional(Nullable(CpuCount)),
    cpu: Type.Optional(Nullable(CpuCount)),
    pids: Type.Optional(Nullable(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]{1,9}$' })]))),
    storage: Type.Optional(Nullable(Type.Union([Type.String({ maxLength: 24 }), Type.Number()])))
  },
  { additionalProperties: true }
)

/** What a tool container may reach beyond the host: `internet` (the
 *  default: the public internet, never link-local, private ranges, the host
 *  or other tools), `none` (nothing), or `{ allow }`: only these
 *  destinations, each `host:port`, `address:port`, `cidr:port`,
 *  `[ipv6]:port` or `ipv6-cidr:port` (they may name private ranges; never
 *  link-local or the host's own addresses). The agent checks each entry and
 *  answers a 400 naming a bad one. */
export const Egress = Type.Union(
  [
    Type.Literal('internet'),
    Type.Literal('none'),
    Type.Object({ allow: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), { maxItems: 64 }) }, { additionalProperties: false })
  ],
  { description: 'internet (default), none, or { allow: ["api.example.com:443", "10.1.2.0/24:5432", "[2001:db8::10]:80"] }' }
)
export type Egress = Static<typeof Egress>

/** Docker's create-option keys DTMA lets a caller set, besides the service
 *  keys; every other Docker field (capitalised, as Docker spells it) is
 *  refused: the rest of the container is DTMA's to define. */
export const ALLOWED_DOCKER_KEYS = ['Env', 'HostConfig'] as const

export const BaseConfigOverride = Type.Object(
  {
    Env: Type.Optional(Nullable(Type.Array(EnvEntry, { maxItems: 256 }))),
    HostConfig: Type.Optional(Nullable(Type.Object({ PortBindings: Type.Optional(Nullable(PortBindings)) }, { additionalProperties: false }))),
    dockerImage: Type.Optional(Nullable(Type.String({ maxLength: 512, description: 'informational: the top-level dockerImageUrl is what runs; a different value is named in warnings' }))),
    environmentVariables: Type.Optional(
      Nullable(Type.Record(EnvName, Type.Union([Type.String({ maxLength: 32768, pattern: '^[^\\u0000]*$' }), Type.Number(), Type.Boolean()]), { additionalProperties: false, maxProperties: 256 }))
    ),
    portMappings: Type.Optional(Nullable(Type.Array(PortMappingRequest, { maxItems: 32 }))),
    mcpTransport: Type.Optional(Nullable(McpTransport)),
    mcpEndpoint: Type.Optional(Nullable(Type.String({ pattern: '^/[\\x21-\\x7e]*$', maxLength: 256, description: 'path of the MCP endpoint in the container, default /mcp' }))),
    mcpPort: Type.Optional(Nullable(ContainerPortNumber)),
    mcpCapabilities: Type.Optional(Nullable(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }))),
    mcpHost: Type.Optional(Nullable(McpHost)),
    mcpAuth: Type.Optional(Nullable(McpAuth)),
    drift: Type.Optional(Nullable(McpDrift)),
    resourceLimits: Type.Optional(Nullable(ResourceLimitsRequest)),
    egress: Type.Optional(Nullable(Egress)),
    templateId: Type.Optional(Type.Unknown({ description: 'kept as metadata' })),
    environment: Type.Optional(Type.Unknown({ description: 'kept as metadata' })),
    configuration: Type.Optional(Type.Unknown({ description: 'kept as metadata (never on a label: it may hold secrets)' }))
  },
  {
    additionalProperties: true,
    description:
      'Docker-shaped (Env, HostConfig.PortBindings) and/or service-shaped keys. Other Docker fields (Cmd, User, Privileged, Binds, CapAdd, NetworkMode, ...) and any HostConfig key but PortBindings get a 400 naming them; other unknown keys are ignored and named in warnings.'
  }
)
export type BaseConfigOverride = Static<typeof BaseConfigOverride>
export type ResourceLimitsRequest = Static<typeof ResourceLimitsRequest>
