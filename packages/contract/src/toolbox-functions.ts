// What a toolbox sends to the backend's `registry` and `toolbox-enroll` edge
// functions, and what they answer, as typebox schemas: the agent builds its
// requests typed from here and the functions read them typed from here.
// Loads in Node and Deno like the rest of the contract.
import Type, { type Static, type TSchema } from 'typebox'
import { AuditRecord, MAX_AUDIT_BATCH } from './audit.ts'
import { Egress, McpTransport } from './deploy-override.ts'
import { McpStatus, ToolChange } from './mcp.ts'
import { InstanceStatus } from './schemas.ts'

const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', maxLength: 36 })
const Text = (maxLength: number) => Type.String({ maxLength })
function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()])
}

/** One dtma_container_registry row as the agent mirrors it. Env KEYS only. */
export const RegistryRow = Type.Object(
  {
    account_tool_instance_id: Uuid,
    /** Ignored by the function: the row is written under the toolbox that called. */
    account_tool_environment_id: Type.Optional(Uuid),
    container_name: Text(256),
    instance_name_on_toolbox: Text(256),
    docker_image_url: Text(1024),
    container_id: Nullable(Text(64)),
    dtma_status: InstanceStatus,
    docker_status: Text(64),
    /** Docker's PortBindings shape, the one base_config_override_json uses. */
    port_bindings: Type.Record(Type.String({ maxLength: 32 }), Type.Array(Type.Object({ HostIp: Text(64), HostPort: Text(8) }), { maxItems: 16 })),
    /** Keys only (the database refuses a value); null when the agent does not know them. */
    environment_variables: Nullable(Type.Array(Type.String({ maxLength: 256, pattern: '^[^=]*$' }), { maxItems: 512 })),
    last_seen_at: Text(64),
    mcp_status: Nullable(McpStatus),
    mcp_transport: Nullable(McpTransport),
    mcp_endpoint_path: Nullable(Text(1024)),
    mcp_server_info: Nullable(Type.Record(Type.String(), Type.Unknown())),
    mcp_tools: Nullable(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
    mcp_tools_fingerprint: Nullable(Text(128)),
    mcp_checked_at: Nullable(Text(64)),
    /** What the tool may reach (the deploy's egress, as the agent enforces it); absent from an older agent. */
    egress: Type.Optional(Egress),
    /** The tools withheld from callers by the drift lock, names and what changed only; absent from an older agent. */
    mcp_tools_withheld: Type.Optional(Nullable(Type.Array(ToolChange, { maxItems: 1000 })))
  },
  { additionalProperties: false }
)
export type RegistryRow = Static<typeof RegistryRow>

/** POST registry: one change of this toolbox's mirror, or a read of it. */
export const RegistryRequest = Type.Union([
  Type.Object({ operation: Type.Literal('upsert'), row: RegistryRow }, { additionalProperties: false }),
  Type.Object({ operation: Type.Literal('delete'), account_tool_instance_id: Uuid }, { additionalProperties: false }),
  Type.Object({ operation: Type.Literal('list') }, { additionalProperties: false }),
  /** A batch of this toolbox's MCP calls for dtma_mcp_audit (each of one of its instances). */
  Type.Object({ operation: Type.Literal('audit'), rows: Type.Array(AuditRecord, { minItems: 1, maxItems: MAX_AUDIT_BATCH }) }, { additionalProperties: false })
])
export type RegistryRequest = Static<typeof RegistryRequest>

export const RegistryResponse = Type.Union([
  Type.Object({ success: Type.Literal(true), operation: Type.Union([Type.Literal('upsert'), Type.Literal('delete')]), account_tool_instance_id: Uuid }),
  Type.Object({ success: Type.Literal(true), operation: Type.Literal('list'), rows: Type.Array(Type.Record(Type.String(), Type.Unknown())) }),
  Type.Object({ success: Type.Literal(true), operation: Type.Literal('audit'), accepted: Type.Integer({ minimum: 0 }) })
])
export type RegistryResponse = Static<typeof RegistryResponse>

/** POST toolbox-enroll: the single-use token, in the body (or as Authorization: Bearer). */
export const EnrolRequest = Type.Object({ enrolment_token: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })) }, { additionalProperties: false })
export type EnrolRequest = Static<typeof EnrolRequest>

/** What a toolbox holds after enrolment (the agent keeps it in its data dir, mode 0600). */
export const ToolboxCredentials = Type.Object({
  success: Type.Literal(true),
  account_tool_environment_id: Uuid,
  /** This toolbox's own token: the backend calls the agent with it, the agent calls heartbeat and registry with it. */
  dtma_bearer_token: Type.String({ minLength: 32, maxLength: 256 }),
  /** SHA-256 (hex) of the fleet key the deployed backend still calls with, or null when it no longer does:
   *  the agent accepts the key without holding it. */
  backend_api_key_sha256: Nullable(Type.String({ pattern: '^[0-9a-f]{64}$' })),
  /** Where heartbeat and registry live (…/functions/v1). */
  functions_url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
  /** The project URL and its public (anon) key, for supabase-js. */
  supabase_url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
  supabase_anon_key: Nullable(Type.String({ maxLength: 4096 }))
})
export type ToolboxCredentials = Static<typeof ToolboxCredentials>
