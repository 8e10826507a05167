// The route table: the one place where DTMA's paths, methods and schemas are
// written. The agent registers its routes from it and the client is typed
// from it, so the two sides cannot disagree.
import type { TSchema } from 'typebox'
import { auditRoutes } from './audit.ts'
import { mcpRoutes } from './mcp-routes.ts'
import { Scope } from './token.ts'
import {
  AcceptedReply,
  AgentLogsQuery,
  AgentLogsReply,
  AgentLogsStreamReply,
  DeployQuery,
  DeployToolBody,
  DeployToolReply,
  ErrorBody,
  HealthReply,
  MessageReply,
  NameParams,
  ReadyReply,
  StateReply,
  StatusReply,
  SystemReply,
  ToolListReply,
  ToolReply
} from './schemas.ts'
import { EventsQuery, EventStreamReply, HtmlReply, LogsQuery, LogsReply, MetricsReply, OpenApiReply } from './observability.ts'
import { AdoptLegacyBody, AdoptLegacyReply, ContainerNameParams, LegacyListReply, RedeployBody, RedeployReply } from './fleet.ts'

export type HttpMethod = 'GET' | 'POST' | 'DELETE'

export interface RouteDefinition {
  readonly method: HttpMethod
  /** Fastify-style path; `:param` segments are filled by the client. */
  readonly path: string
  /** `bearer`: a configured token is required. `public`: no token needed. */
  readonly auth: 'bearer' | 'public'
  /** A bearer route: the scopes of which a token must hold one (token.ts). */
  readonly scope?: readonly Scope[]
  /** Polled routes log at warn so a poll every few seconds stays quiet. */
  readonly quiet?: boolean
  readonly summary: string
  /** Content type of the success reply when it is not JSON. */
  readonly produces?: 'text/plain' | 'text/html' | 'text/event-stream'
  /** The success reply is a stream the agent writes as it goes (logs that
   *  follow, server-sent events); the client hands it back as a Response.
   *  `follow`: only when the query asks `follow=true`; otherwise the JSON body. */
  readonly stream?: true | 'follow'
  /** With stream 'follow': the schema of the streamed text. */
  readonly streamReply?: TSchema
  /** The agent answers on the raw response itself (the MCP endpoint: JSON or
   *  server-sent events, as the MCP transport says); the client hands every
   *  success back as the open Response. */
  readonly raw?: true
  /** The Accept header the client sends (default application/json). */
  readonly accept?: string
  readonly params?: TSchema
  readonly querystring?: TSchema
  readonly body?: TSchema
  readonly responses: Readonly<Record<number, TSchema>>
}

/** 429: the client address failed authentication too often (Retry-After says when to try again). */
const authErrors = { 401: ErrorBody, 403: ErrorBody, 429: ErrorBody } as const
const dockerErrors = { 502: ErrorBody, 503: ErrorBody } as const

export const routes = {
  health: {
    method: 'GET',
    path: '/health',
    auth: 'public',
    quiet: true,
    summary: 'Liveness: the text OK',
    produces: 'text/plain',
    responses: { 200: HealthReply }
  },
  ready: {
    method: 'GET',
    path: '/health/ready',
    auth: 'public',
    quiet: true,
    summary: 'Readiness: 200 once the first reconcile with Docker is done, 503 before',
    responses: { 200: ReadyReply, 503: ErrorBody }
  },
  status: {
    method: 'GET',
    path: '/status',
    auth: 'public',
    quiet: true,
    summary: 'Agent health, system metrics and managed instances (never 500)',
    responses: { 200: StatusReply }
  },
  listToolStatus: {
    method: 'GET',
    path: '/tools/status',
    auth: 'bearer',
    scope: [Scope.toolsRead],
    quiet: true,
    summary: 'Status of every managed instance',
    responses: { 200: ToolListReply, ...authErrors, ...dockerErrors }
  },
  listTools: {
    method: 'GET',
    path: '/tools',
    auth: 'bearer',
    scope: [Scope.toolsRead],
    summary: 'Every managed instance',
    responses: { 200: ToolListReply, ...authErrors, ...dockerErrors }
  },
  getTool: {
    method: 'GET',
    path: '/tools/:name',
    auth: 'bearer',
    scope: [Scope.toolsRead],
    summary: 'One managed instance',
    params: NameParams,
    responses: { 200: ToolReply, 400: ErrorBody, 404: ErrorBody, ...authErrors, ...dockerErrors }
  },
  deployTool: {
    method: 'POST',
    path: '/tools',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary:
      'Deploy a tool container (idempotent: the same request again answers 200). Host ports: 0, "" or none take a free port of the tool range; an asked port that is the agent\'s own or another instance\'s is replaced by a free one, said in the message and in warnings',
    body: DeployToolBody,
    querystring: DeployQuery,
    responses: {
      200: DeployToolReply,
      201: DeployToolReply,
      400: ErrorBody,
      409: ErrorBody,
      413: ErrorBody,
      ...authErrors,
      ...dockerErrors,
      // waitForMcp: the MCP server did not answer initialize in time (the instance stays deployed).
      504: ErrorBody
    }
  },
  startTool: {
    method: 'POST',
    path: '/tools/:name/start',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary: 'Start an instance',
    params: NameParams,
    responses: { 200: StateReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, ...dockerErrors }
  },
  stopTool: {
    method: 'POST',
    path: '/tools/:name/stop',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary: "Stop an instance (an earlier agent's container of that name is taken over first)",
    params: NameParams,
    responses: { 200: StateReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, ...dockerErrors }
  },
  restartTool: {
    method: 'POST',
    path: '/tools/:name/restart',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary: 'Restart an instance (recreated first if its container is gone)',
    params: NameParams,
    responses: { 200: StateReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, ...dockerErrors }
  },
  removeTool: {
    method: 'DELETE',
    path: '/tools/:name',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary: 'Remove an instance and its container',
    params: NameParams,
    responses: { 200: MessageReply, 400: ErrorBody, 404: ErrorBody, ...authErrors, ...dockerErrors }
  },
  toolLogs: {
    method: 'GET',
    path: '/tools/:name/logs',
    auth: 'bearer',
    scope: [Scope.logsRead],
    summary: "The container's stdout and stderr as text (bounded; follow=true streams until the client closes)",
    produces: 'text/plain',
    stream: true,
    params: NameParams,
    querystring: LogsQuery,
    responses: { 200: LogsReply, 400: ErrorBody, 404: ErrorBody, ...authErrors, ...dockerErrors }
  },
  events: {
    method: 'GET',
    path: '/events',
    auth: 'bearer',
    scope: [Scope.toolsRead],
    summary: 'Server-sent events: every instance now, then each change and pull progress (watch a deploy without polling)',
    produces: 'text/event-stream',
    stream: true,
    querystring: EventsQuery,
    responses: { 200: EventStreamReply, 400: ErrorBody, ...authErrors, 503: ErrorBody }
  },
  system: {
    method: 'GET',
    path: '/system',
    auth: 'public',
    quiet: true,
    summary: 'System metrics (as /status reports them), the Docker engine (version, containers, images) and the agent process',
    responses: { 200: SystemReply }
  },
  agentLogs: {
    method: 'GET',
    path: '/logs',
    auth: 'bearer',
    scope: [Scope.logsRead],
    summary: "The agent's own recent log lines, secrets redacted: { logs, timestamp }; follow=true streams them as text until the client closes",
    produces: 'text/plain',
    stream: 'follow',
    streamReply: AgentLogsStreamReply,
    querystring: AgentLogsQuery,
    responses: { 200: AgentLogsReply, 400: ErrorBody, ...authErrors }
  },
  restartAgent: {
    method: 'POST',
    path: '/restart',
    auth: 'bearer',
    scope: [Scope.agentAdmin],
    summary: 'Restart the agent itself: answers 202, then exits for its supervisor (Docker --restart, systemd) to start it again; tool containers keep running',
    responses: { 202: AcceptedReply, ...authErrors, 503: ErrorBody }
  },
  redeployAgent: {
    method: 'POST',
    path: '/redeploy',
    auth: 'bearer',
    scope: [Scope.agentAdmin],
    summary:
      'Upgrade the agent in place (the same image pulled again, or `image`): 202 with an operation id, then a helper container backs up the store, starts the new agent, checks it and rolls back on failure; progress and outcome as `upgrade` events. Tool containers keep running. 501: this agent does not run in a Docker container',
    body: RedeployBody,
    responses: { 202: RedeployReply, 400: ErrorBody, 409: ErrorBody, 501: ErrorBody, ...authErrors, ...dockerErrors }
  },
  listLegacy: {
    method: 'GET',
    path: '/tools/legacy',
    auth: 'bearer',
    scope: [Scope.toolsRead],
    summary:
      "Every container without DTMA's labels, judged: name, image, ports, created, the evidence found that it is an earlier agent's, `eligible` (a call that names it, or an adopt, takes it over) and `why_not` (why it is never touched, one sentence)",
    responses: { 200: LegacyListReply, ...authErrors, ...dockerErrors }
  },
  adoptLegacy: {
    method: 'POST',
    path: '/tools/legacy/:name/adopt',
    auth: 'bearer',
    scope: [Scope.toolsWrite],
    summary: "Take over an earlier agent's container by its Docker name: made again under DTMA's labels with its image, env and host ports, then managed like any other instance",
    params: ContainerNameParams,
    body: AdoptLegacyBody,
    responses: { 200: AdoptLegacyReply, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors, ...dockerErrors }
  },
  openApi: {
    method: 'GET',
    path: '/openapi.json',
    auth: 'public',
    summary: 'OpenAPI 3 document of every route, generated from the contract table',
    responses: { 200: OpenApiReply }
  },
  docs: {
    method: 'GET',
    path: '/docs',
    auth: 'public',
    summary: 'API documentation page (self-contained HTML)',
    produces: 'text/html',
    responses: { 200: HtmlReply }
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    auth: 'bearer',
    scope: [Scope.agentAdmin],
    quiet: true,
    summary: 'Prometheus metrics: requests, Docker operations, instances, reconciles, outbox and heartbeats',
    produces: 'text/plain',
    responses: { 200: MetricsReply, ...authErrors }
  },
  ...mcpRoutes,
  ...auditRoutes
} as const satisfies Record<string, RouteDefinition>

/** Instance names that a route of their own shadows: GET /tools/status is
 *  the list, never an instance called "status", so no instance may be named
 *  so (it could not be read, started or removed by name). */
export const SHADOWED_INSTANCE_NAMES: readonly string[] = Object.values(routes as Record<string, RouteDefinition>).flatMap((route) => {
  const segment = /^\/tools\/([^/:]+)$/.exec(route.path)?.[1]
  return route.method === 'GET' && segment !== undefined ? [segment] : []
})

export type Routes = typeof routes
export type RouteId = keyof Routes
/** Routes whose success reply is a stream (logs that follow, events), always or with follow=true. */
export type StreamRouteId = { [K in RouteId]: Routes[K] extends { readonly stream: true | 'follow' } ? K : never }[RouteId]
