// The heartbeat the agent sends to the backend's `heartbeat` function, as a
// typebox schema: the agent builds it typed from here and DTMA's heartbeat
// edge function reads it typed from here, so a drift between the two is a
// compile error. Loads in Node and Deno like the rest of the contract.
import Type, { type Static } from 'typebox'
import { McpInfo } from './mcp.ts'
import { PortMapping, SystemMetrics } from './schemas.ts'

export const StatusOnToolboxValue = Type.Union([Type.Literal('deploying'), Type.Literal('running'), Type.Literal('stopped'), Type.Literal('error')], {
  description: 'a value of the backend enum account_tool_installation_status_enum, never a raw Docker state'
})

export const HeartbeatToolStatus = Type.Object({
  account_tool_instance_id: Type.String(),
  instance_name_on_toolbox: Type.String(),
  status_on_toolbox: StatusOnToolboxValue,
  /** Deliberately not `runtime_details`: the backend's deployed heartbeat
   *  function copies that key into a column that was dropped on 2025-05-12,
   *  and then its whole row update fails. It ignores this key. */
  runtime: Type.Object({
    container_id: Type.String(),
    image: Type.String(),
    created_at: Type.String({ description: "the container's creation time, ISO 8601" }),
    docker_status: Type.String(),
    ports: Type.Array(PortMapping)
  }),
  /** The MCP server's status and tools (null: not an MCP server); absent from earlier agents. */
  mcp: Type.Optional(Type.Union([McpInfo, Type.Null()]))
})
export type HeartbeatToolStatus = Static<typeof HeartbeatToolStatus>

export const HeartbeatBody = Type.Object({
  dtma_version: Type.String(),
  /** The backend stores it as account_tool_environments.dtma_health_details_json. */
  system_status: SystemMetrics,
  tool_statuses: Type.Array(HeartbeatToolStatus),
  /** The certificate the agent serves HTTPS with (public): the backend keeps it in the toolbox's row and pins it. Absent from earlier agents. */
  tls_fingerprint_sha256: Type.Optional(Type.String({ pattern: '^([0-9A-F]{2}:){31}[0-9A-F]{2}$', description: 'SHA-256 of the DER certificate, as openssl prints it' })),
  tls_certificate_pem: Type.Optional(Type.String({ maxLength: 16384, pattern: '^-----BEGIN CERTIFICATE-----' }))
})
export type HeartbeatBody = Static<typeof HeartbeatBody>
