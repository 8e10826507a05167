// The routes of DTMA's MCP side, spread into the route table (routes.ts):
// every instance's MCP server over Streamable HTTP on the agent's own port,
// whatever transport it speaks in its container, and what it last listed.
// The MCP routes are `raw`: the agent answers JSON or a stream of
// server-sent events as the MCP transport says, and the client hands every
// success back as the open Response. Every refusal on the MCP endpoint, DTMA's
// own or its server's, is a JSON-RPC error (McpErrorBody), as MCP clients
// read them; /capabilities answers the ErrorBody of every other route.
import { ErrorBody, NameParams } from './schemas.ts'
import { McpAccepted, McpApproveBody, McpApproveReply, McpDriftReply, McpErrorBody, McpCapabilitiesReply, McpPostBody, McpReply, McpSessionClosed, McpStreamReply, ProtectedResourceMetadata } from './mcp.ts'
import type { RouteDefinition } from './routes.ts'
import { Scope } from './token.ts'

const authErrors = { 401: ErrorBody, 403: ErrorBody, 429: ErrorBody } as const
/** 404: no such instance, or no such MCP session (start a new one); 409: the
 *  instance is not an MCP server; 502: an http/sse server failed; 503: its
 *  container does not run or its server cannot be reached now. An http
 *  server's own refusals pass with the status it gave (405 on GET: no stream). */
const mcpErrors = { 400: McpErrorBody, 401: McpErrorBody, 403: McpErrorBody, 404: McpErrorBody, 409: McpErrorBody, 429: McpErrorBody, 502: McpErrorBody, 503: McpErrorBody } as const
const ACCEPT = 'application/json, text/event-stream'
/** /mcp needs no instance and no Docker: 400 a 2025 request without its session, 404 an unknown session, 503 too many sessions. */
const gatewayErrors = { 400: McpErrorBody, 401: McpErrorBody, 403: McpErrorBody, 404: McpErrorBody, 429: McpErrorBody } as const

export const mcpRoutes = {
  mcpPost: {
    method: 'POST',
    path: '/tools/:name/mcp',
    auth: 'bearer',
    scope: [Scope.mcp],
    // A call of an agent is a request: logged like the polled routes, at warn.
    quiet: true,
    summary:
      "The instance's MCP server over Streamable HTTP: POST a JSON-RPC message or batch; the answer is JSON or server-sent events, as MCP says. initialize opens a session (Mcp-Session-Id); stdio, http and sse servers alike. An Origin header must be the request's own (over TLS, or by IP address or localhost) or one of DTMA_MCP_ALLOWED_ORIGINS",
    raw: true,
    accept: ACCEPT,
    params: NameParams,
    body: McpPostBody,
    responses: { 200: McpReply, 202: McpAccepted, 406: McpErrorBody, 413: McpErrorBody, ...mcpErrors }
  },
  mcpStream: {
    method: 'GET',
    path: '/tools/:name/mcp',
    auth: 'bearer',
    scope: [Scope.mcp],
    quiet: true,
    summary: "The session's stream of the server's own requests and notifications (server-sent events; one per session)",
    raw: true,
    accept: 'text/event-stream',
    produces: 'text/event-stream',
    params: NameParams,
    responses: { 200: McpStreamReply, 405: McpErrorBody, 406: McpErrorBody, ...mcpErrors }
  },
  mcpEnd: {
    method: 'DELETE',
    path: '/tools/:name/mcp',
    auth: 'bearer',
    scope: [Scope.mcp],
    quiet: true,
    summary: 'End an MCP session (Mcp-Session-Id)',
    raw: true,
    accept: ACCEPT,
    params: NameParams,
    responses: { 200: McpSessionClosed, ...mcpErrors }
  },
  toolCapabilities: {
    method: 'GET',
    path: '/tools/:name/capabilities',
    auth: 'bearer',
    scope: [Scope.toolsRead, Scope.mcp],
    summary: "What the instance's MCP server announced and last listed: server info, capabilities, tools, resources, prompts, the tools' fingerprint",
    params: NameParams,
    responses: { 200: McpCapabilitiesReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, 503: ErrorBody }
  },
  protectedResource: {
    method: 'GET',
    path: '/.well-known/oauth-protected-resource',
    auth: 'public',
    summary:
      "RFC 9728 protected resource metadata, as the MCP authorization spec asks: the authorization server whose tokens open the MCP endpoints, the scopes, the Authorization header. 404 unless DTMA_JWKS_URL and DTMA_TOKEN_ISSUER are set; a 401 of an MCP endpoint names this URL in WWW-Authenticate (resource_metadata)",
    responses: { 200: ProtectedResourceMetadata, 404: ErrorBody }
  },
  gatewayPost: {
    method: 'POST',
    path: '/mcp',
    auth: 'bearer',
    scope: [Scope.mcp],
    quiet: true,
    summary:
      "The toolbox's one MCP endpoint: every ready MCP server's tools, resources, resource templates and prompts, named `<gateway_prefix>_<name>`, each call routed to its server with the token's grant. MCP 2026-07-28 (stateless, server/discover) and the 2025 revisions (initialize opens a session). Origin and Accept as on /tools/{name}/mcp",
    raw: true,
    accept: ACCEPT,
    body: McpPostBody,
    responses: { 200: McpReply, 202: McpAccepted, 406: McpErrorBody, 413: McpErrorBody, 503: McpErrorBody, ...gatewayErrors }
  },
  gatewayStream: {
    method: 'GET',
    path: '/mcp',
    auth: 'bearer',
    scope: [Scope.mcp],
    quiet: true,
    summary: "A 2025 session's stream of the aggregated endpoint: list_changed when any server's tools, resources or prompts change, come or go",
    raw: true,
    accept: 'text/event-stream',
    produces: 'text/event-stream',
    responses: { 200: McpStreamReply, 406: McpErrorBody, 409: McpErrorBody, ...gatewayErrors }
  },
  gatewayEnd: {
    method: 'DELETE',
    path: '/mcp',
    auth: 'bearer',
    scope: [Scope.mcp],
    quiet: true,
    summary: 'End a 2025 session of the aggregated endpoint (Mcp-Session-Id)',
    raw: true,
    accept: ACCEPT,
    responses: { 200: McpSessionClosed, ...gatewayErrors }
  },
  toolDrift: {
    method: 'GET',
    path: '/tools/:name/mcp/drift',
    auth: 'bearer',
    scope: [Scope.toolsRead],
    summary: "The drift lock of the instance's MCP server: the tools pinned, and each withheld tool's approved and current description and schema",
    params: NameParams,
    responses: { 200: McpDriftReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, 503: ErrorBody }
  },
  approveTools: {
    method: 'POST',
    path: '/tools/:name/mcp/approve',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary: 'Approve the current definitions of withheld tools (all, or those named): they are pinned and callers see them again',
    params: NameParams,
    body: McpApproveBody,
    responses: { 200: McpApproveReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, 503: ErrorBody }
  }
} as const satisfies Record<string, RouteDefinition>
