// An instance's MCP server as the API reports it: how it is reached (the
// deploy's mcp* keys) beside what the agent last saw it answer (initialize,
// ping, tools/list), and the bodies of the MCP endpoint. No Node-only
// imports: this file is also loaded by Deno.
import Type, { type Static } from 'typebox'
import { McpDrift, McpTransport } from './deploy-override.ts'

/** How an instance's MCP server is reached, from the deploy's mcp* keys (what the store keeps). */
export const McpSettings = Type.Object({
  transport: McpTransport,
  endpoint: Type.String({ description: 'path of the MCP endpoint inside the container (http, sse)' }),
  port: Type.Union([Type.Integer(), Type.Null()], { description: 'container port of an http/sse server' }),
  capabilities: Type.Array(Type.String(), { description: 'what the deploy declared (mcpCapabilities)' }),
  host: Type.Optional(Type.String({ description: 'the Host header its http or sse server is sent (mcpHost); absent: localhost:<port>' })),
  drift: Type.Optional(McpDrift)
})
export type McpSettings = Static<typeof McpSettings>

export const McpStatus = Type.Union(
  [Type.Literal('starting'), Type.Literal('ready'), Type.Literal('degraded'), Type.Literal('unresponsive'), Type.Literal('stopped')],
  {
    description:
      'starting: the container runs and its server has not answered initialize yet; ready: initialized and its last ping answered; degraded: a ping or a list failed, fewer times in a row than the limit; unresponsive: the server does not answer (the container is restarted, with backoff); stopped: the container does not run'
  }
)
export type McpStatus = Static<typeof McpStatus>

export const McpServerInfo = Type.Object({ name: Type.String(), version: Type.String() }, { additionalProperties: true, description: 'serverInfo of its initialize answer' })

/** A tool whose definition differs from its pin: changed since approval, new since approval, or gone. Names only. */
export const ToolChange = Type.Object({
  name: Type.String({ maxLength: 256 }),
  change: Type.Union([Type.Literal('changed'), Type.Literal('new'), Type.Literal('removed')])
}, { additionalProperties: false })
export type ToolChange = Static<typeof ToolChange>

/** The `mcp` object of an instance; null for a container that is not an MCP server. */
export const McpInfo = Type.Object({
  ...McpSettings.properties,
  url_path: Type.String({ description: "where callers reach it: this path on the agent's own port (bearer token), e.g. /tools/My%20Tool/mcp" }),
  status: McpStatus,
  protocol_version: Type.Union([Type.String(), Type.Null()]),
  server_info: Type.Union([McpServerInfo, Type.Null()]),
  server_capabilities: Type.Union([Type.Array(Type.String()), Type.Null()], { description: 'the capabilities its initialize answer announced (tools, resources, prompts, logging, ...)' }),
  last_ping_ms: Type.Union([Type.Number(), Type.Null()], { description: 'round trip of the last answered ping' }),
  tools_count: Type.Union([Type.Integer(), Type.Null()]),
  tools_fingerprint: Type.Union([Type.String(), Type.Null()], { description: 'sha256 of the tool names and schemas as last listed: a new one means the tools changed' }),
  checked_at: Type.Union([Type.String(), Type.Null()], { description: 'when the server last answered (ISO 8601); refreshed in reports at least every minute' }),
  last_error: Type.Union([Type.String(), Type.Null()]),
  gateway_prefix: Type.Optional(
    Type.String({ pattern: '^[a-zA-Z0-9_-]{1,24}$', description: "on the toolbox's aggregated endpoint (/mcp) its tools, resources and prompts are named `<gateway_prefix>_<name>`; kept across restarts" })
  ),
  tools_withheld: Type.Optional(Type.Array(ToolChange, { description: 'tools withheld from callers since their definition changed (or they are new) after approval: POST /tools/{name}/mcp/approve' }))
})
export type McpInfo = Static<typeof McpInfo>

// ---- the MCP endpoint: /tools/:name/mcp ------------------------------------------

const JsonRpcId = Type.Union([Type.String({ maxLength: 256 }), Type.Integer()])

/** One JSON-RPC 2.0 message: a request, a notification or a response. */
export const JsonRpcMessage = Type.Object(
  {
    jsonrpc: Type.Literal('2.0'),
    id: Type.Optional(JsonRpcId),
    method: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    error: Type.Optional(Type.Object({ code: Type.Integer(), message: Type.String(), data: Type.Optional(Type.Unknown()) }))
  },
  { additionalProperties: true }
)
export type JsonRpcMessage = Static<typeof JsonRpcMessage>

/** POST /tools/:name/mcp: a message or a batch (MCP Streamable HTTP). */
export const McpPostBody = Type.Union([JsonRpcMessage, Type.Array(JsonRpcMessage, { minItems: 1, maxItems: 100 })])

export const McpReply = Type.Unknown({
  description: 'application/json: the JSON-RPC response (or batch); text/event-stream: the JSON-RPC messages of the request as server-sent events, its response last (MCP Streamable HTTP)'
})
export const McpAccepted = Type.String({ maxLength: 0, description: '202: notifications or responses only; no body' })
export const McpStreamReply = Type.String({ description: "server-sent events: the server's requests and notifications that answer no request of the caller" })
export const McpSessionClosed = Type.String({ description: "the session is ended; no body from DTMA (an http server's own 2xx passes as it sent it)" })

/** A refusal on the MCP endpoint, DTMA's own or its server's: a JSON-RPC
 *  error, as MCP clients read them. DTMA's own carry id null and, in data,
 *  DTMA's error code; a server's passes through as its server sent it. */
export const McpErrorBody = Type.Object(
  {
    jsonrpc: Type.Literal('2.0'),
    id: Type.Union([JsonRpcId, Type.Null()]),
    error: Type.Object({ code: Type.Integer(), message: Type.String(), data: Type.Optional(Type.Unknown()) }, { additionalProperties: true })
  },
  { additionalProperties: true, description: "a JSON-RPC error; DTMA's own refusals: id null, data.code one of DTMA's error codes" }
)
export type McpErrorBody = Static<typeof McpErrorBody>

/** DTMA's own refusal on the MCP endpoint: id null, DTMA's code in data; the
 *  JSON-RPC code is the one the SDK's transport gives the same refusal
 *  (-32001 no such session, -32700 a body that is not JSON, -32600 an
 *  invalid request, -32000 any other). */
export function mcpErrorBody(status: number, code: string, message: string): McpErrorBody {
  const rpcCode = code === 'DTMA_MCP_SESSION_NOT_FOUND' ? -32001 : status === 400 && /\bJSON\b/.test(message) ? -32700 : status === 400 ? -32600 : -32000
  return { jsonrpc: '2.0', id: null, error: { code: rpcCode, message, data: { code } } }
}

export const McpHeaders = {
  session: 'mcp-session-id',
  protocolVersion: 'mcp-protocol-version'
} as const

// ---- GET /tools/:name/capabilities ----------------------------------------------------

const Listed = Type.Union([Type.Array(Type.Record(Type.String(), Type.Unknown())), Type.Null()], { description: 'as the server last listed them; null: not listed yet, or not offered' })

export const McpCapabilities = Type.Object({
  instance_name_on_toolbox: Type.String(),
  status: McpStatus,
  protocol_version: Type.Union([Type.String(), Type.Null()]),
  server_info: Type.Union([McpServerInfo, Type.Null()]),
  server_capabilities: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], { description: 'the capabilities object of its initialize answer' }),
  instructions: Type.Union([Type.String(), Type.Null()]),
  tools: Listed,
  resources: Listed,
  prompts: Listed,
  tools_fingerprint: Type.Union([Type.String(), Type.Null()]),
  checked_at: Type.Union([Type.String(), Type.Null()])
})
export type McpCapabilities = Static<typeof McpCapabilities>

export const McpCapabilitiesReply = Type.Object({ success: Type.Literal(true), data: McpCapabilities })

/** SSE `mcp` event: an instance's MCP status or tool fingerprint changed. */
export const McpEvent = Type.Object({
  instanceName: Type.String(),
  mcp: Type.Union([McpInfo, Type.Null()]),
  /** Present on the event of a drift: the tools whose definitions changed (names only, never arguments). */
  kind: Type.Optional(Type.Literal('drift')),
  drift: Type.Optional(Type.Object({
    tools: Type.Array(ToolChange),
    approved: Type.Union([Type.Literal('auto'), Type.Null()], { description: "auto: the deploy's drift auto-approve pinned the change; null: the changed and new tools are withheld" }),
    detected_at: Type.String()
  }))
})
export type McpEvent = Static<typeof McpEvent>

// ---- GET /.well-known/oauth-protected-resource -------------------------------------------

/** RFC 9728's protected resource metadata of the toolbox (served when an
 *  authorization server is set: DTMA_JWKS_URL and DTMA_TOKEN_ISSUER): where
 *  an MCP client gets a token for its MCP endpoints by itself. */
export const ProtectedResourceMetadata = Type.Object(
  {
    resource: Type.String({ description: "the toolbox's base URL, as the request named it: every /tools/{name}/mcp is under it" }),
    authorization_servers: Type.Array(Type.String(), { description: 'the issuer of the tokens the agent accepts (DTMA_TOKEN_ISSUER)' }),
    scopes_supported: Type.Array(Type.String()),
    bearer_methods_supported: Type.Array(Type.Literal('header'), { description: 'the Authorization header only: a token in the query string is refused' }),
    resource_name: Type.String()
  },
  { additionalProperties: true }
)
export type ProtectedResourceMetadata = Static<typeof ProtectedResourceMetadata>

// ---- the drift lock: GET /tools/:name/mcp/drift, POST /tools/:name/mcp/approve ---------

/** A tool's definition as the drift lock compares it (what its fingerprint covers). */
export const ToolDefinition = Type.Object(
  {
    title: Type.Optional(Type.Unknown()),
    description: Type.Optional(Type.Unknown()),
    inputSchema: Type.Optional(Type.Unknown()),
    outputSchema: Type.Optional(Type.Unknown()),
    annotations: Type.Optional(Type.Unknown())
  },
  { additionalProperties: false }
)

export const WithheldTool = Type.Object({
  name: Type.String(),
  change: Type.Union([Type.Literal('changed'), Type.Literal('new')]),
  pinned: Type.Union([ToolDefinition, Type.Null()], { description: 'the approved definition; null: a tool new since approval' }),
  current: ToolDefinition,
  pinned_at: Type.Union([Type.String(), Type.Null()])
})

export const McpDriftState = Type.Object({
  instance_name_on_toolbox: Type.String(),
  drift: McpDrift,
  admit_new_tools: Type.Boolean({ description: 'DTMA_MCP_ADMIT_NEW_TOOLS: new tools are pinned as they appear' }),
  pinned: Type.Array(Type.String(), { description: 'the tools whose definitions are pinned' }),
  withheld: Type.Array(WithheldTool)
})
export type McpDriftState = Static<typeof McpDriftState>

export const McpDriftReply = Type.Object({ success: Type.Literal(true), data: McpDriftState })

export const McpApproveBody = Type.Union(
  [
    Type.Object({ all: Type.Literal(true) }, { additionalProperties: false }),
    Type.Object({ tools: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false })
  ],
  { description: '{ all: true }: pin every tool as the server lists it now; { tools: [...] }: pin these tools only' }
)
export type McpApproveBody = Static<typeof McpApproveBody>

export const McpApproveReply = Type.Object({
  success: Type.Literal(true),
  message: Type.String(),
  data: Type.Object({ approved: Type.Array(Type.String()), withheld: Type.Array(Type.String({ description: 'tools still withheld' })) })
})
