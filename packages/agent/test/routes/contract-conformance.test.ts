// Contract test (b): every route of the table, driven through the typed
// client against a real agent and Docker engine, answers only statuses the
// table declares, with bodies that pass the table's typebox schemas. Every
// declared status is provoked here, except the few listed with the reason.
import { createServer } from 'node:net'
import { createDtmaClient, routes, SCOPES, signToolboxToken, type DtmaClient, type RouteDefinition, type RouteId } from '@dtma/contract'
import t, { type Test } from 'tap'
import { Value } from 'typebox/value'
import { freePort, startTestAgent, TEST_AUDIENCE, TOKEN, VM_TOKEN, uniqueName, type TestAgent } from '../helpers/agent.ts'
import { earlierAgentTool, legacyName } from '../helpers/earlier-agent.ts'
import { ensureMcpImages } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'
import { provokeMcpStatuses } from './contract-conformance-mcp.ts'
import { provokeGatewayStatuses } from './contract-conformance-gateway.ts'

t.before(ensureMcpImages)

/** Declared statuses no test here can provoke without breaking the engine. */
const NOT_PROVOKED: Record<string, string> = {
  'listToolStatus 502': 'listing reads the index; Docker is not called',
  'listTools 502': 'listing reads the index; Docker is not called',
  'getTool 502': 'reads the index; Docker is not called',
  'stopTool 502': 'Docker would have to fail a stop on a live engine',
  'removeTool 502': 'Docker would have to fail a forced remove on a live engine',
  'toolLogs 502': 'Docker would have to fail a log read on a live engine',
  'startTool 502': 'Docker would have to fail a start for a reason other than a port',
  'restartTool 502': 'Docker would have to fail a restart for a reason other than a port',
  'listLegacy 502': 'Docker would have to fail a listing on a live engine',
  'adoptLegacy 502': 'Docker would have to fail a create or start for a reason other than a port',
  'events 503': 'needs DTMA_EVENTS_MAX_CLIENTS streams held open: test/routes/events.test.ts',
  'redeployAgent 202': 'needs the agent in a container: test/fleet/redeploy.test.ts',
  'redeployAgent 409': 'needs an upgrade running in a container: test/fleet/redeploy.test.ts',
  'redeployAgent 502': 'needs the agent in a container whose image cannot run the helper: test/fleet/redeploy.test.ts',
  'protectedResource 200': 'needs an authorization server (DTMA_JWKS_URL, DTMA_TOKEN_ISSUER): test/mcp/mcp-authorization.test.ts'
}

type Seen = Set<string>

/** The client, checking every reply against the table and noting its status. */
function checkingClient(t: Test, client: DtmaClient, seen: Seen): DtmaClient {
  const checked: Record<string, (args?: unknown) => Promise<unknown>> = {}
  for (const [id, definition] of Object.entries(routes)) {
    const route: RouteDefinition = definition
    checked[id] = async (args?: unknown) => {
      const call = client[id as RouteId] as (args?: unknown) => Promise<{ status: number; body?: unknown; response?: Response }>
      const reply = await call(args)
      const schema = route.responses[reply.status]
      if (schema === undefined) {
        t.fail(`${id} answered ${reply.status}, which the table does not declare`)
        return reply
      }
      seen.add(`${id} ${reply.status}`)
      if (reply.response !== undefined && route.raw === true) {
        // MCP answers JSON or an event stream as it sees fit; an accepted notification or an ended session has no body.
        const type = reply.response.headers.get('content-type') ?? ''
        if (reply.status === 202 || ((id === 'mcpEnd' || id === 'gatewayEnd') && reply.status === 200)) t.equal(await reply.response.text(), '', `${id} ${reply.status}: no body`)
        else t.match(type, new RegExp(`^(${route.produces ?? 'application/json|text/event-stream'})`), `${id} ${reply.status}: content type`)
        // An event stream is the caller's to read or end (a session's GET stream stays open while it tests).
        if (!type.startsWith('text/event-stream')) await reply.response.body?.cancel().catch(() => undefined)
      } else if (reply.response !== undefined) {
        t.match(reply.response.headers.get('content-type'), new RegExp(`^${route.produces ?? 'application/json'}`), `${id} ${reply.status}: content type`)
        await reply.response.body?.cancel()
      } else if (!Value.Check(schema, reply.body)) {
        t.fail(`${id} ${reply.status}: body does not match the table`, { errors: [...Value.Errors(schema, reply.body)].slice(0, 5), body: reply.body })
      }
      return reply
    }
  }
  return checked as unknown as DtmaClient
}

function clientFor(t: Test, agent: TestAgent, seen: Seen, token: string | undefined): DtmaClient {
  return checkingClient(t, createDtmaClient({ baseUrl: agent.baseUrl, token, timeoutMs: 60_000 }), seen)
}

/** Minimal arguments for any route: auth is checked before anything else. */
function anyArgs(route: RouteDefinition): unknown {
  return { ...(route.params && { params: { name: 'x' } }), ...(route.body && { body: {} }) }
}

async function occupy(t: Test, port: number): Promise<void> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
}

t.test('every route answers its declared statuses with bodies of the declared schemas', async (t) => {
  const seen: Seen = new Set()
  let restarts = 0
  const agent = await startTestAgent(t, { restart: () => restarts++ })
  const client = clientFor(t, agent, seen, TOKEN)
  const call = client as unknown as Record<RouteId, (args?: unknown) => Promise<{ status: number }>>

  // Authentication on every bearer route.
  const anonymous = clientFor(t, agent, seen, undefined) as unknown as typeof call
  const wrong = clientFor(t, agent, seen, 'not-the-token') as unknown as typeof call
  for (const [id, route] of Object.entries(routes) as Array<[RouteId, RouteDefinition]>) {
    if (route.auth !== 'bearer') continue
    t.equal((await anonymous[id](anyArgs(route))).status, 401, `${id} without a token`)
    t.equal((await wrong[id](anyArgs(route))).status, 401, `${id} with a wrong token`)
    // A valid token with every scope but the route's: 403.
    const lacking = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: SCOPES.filter((scope) => !(route.scope ?? []).includes(scope)), lifetimeSeconds: 600 })
    t.equal((await (clientFor(t, agent, seen, lacking) as unknown as typeof call)[id](anyArgs(route))).status, 403, `${id} with a token without its scope`)
  }

  // An address that failed too often: every bearer route is 429 for it.
  const strict = await startTestAgent(t, { env: { DTMA_AUTH_FAILURE_LIMIT: '1' } })
  const blocked = clientFor(t, strict, seen, 'not-the-token') as unknown as typeof call
  t.equal((await blocked.listTools()).status, 401, 'the failure that reaches the limit')
  for (const [id, route] of Object.entries(routes) as Array<[RouteId, RouteDefinition]>) {
    if (route.auth === 'bearer') t.equal((await blocked[id](anyArgs(route))).status, 429, `${id} after too many failed authentications`)
  }

  // Public routes.
  for (const id of ['health', 'ready', 'status', 'system', 'openApi', 'docs'] as const) t.equal((await call[id]()).status, 200, id)
  t.equal((await client.metrics()).status, 200)

  // The agent's own routes.
  t.equal((await client.agentLogs({ query: { tail: 5 } })).status, 200, 'agent log lines as JSON')
  t.equal((await client.agentLogs({ query: { follow: true } })).status, 200, 'agent log lines followed')
  t.equal((await client.agentLogs({ query: { tail: 10001 } })).status, 400)
  t.equal((await client.redeployAgent()).status, 501, 'an agent outside a container cannot upgrade itself')
  t.equal((await call.redeployAgent({ body: { image: 'Not An Image' } })).status, 400)
  t.equal((await client.listLegacy()).status, 200)
  t.equal((await client.adoptLegacy({ params: { name: `nobody-${Date.now()}` }, body: {} })).status, 404)
  t.equal((await call.adoptLegacy({ params: { name: '-bad name' }, body: {} })).status, 400)
  t.equal((await client.restartAgent()).status, 202)
  t.equal(await waitFor(() => (restarts === 1 ? restarts : undefined), 5000), 1, 'the restart ran once the answer had left')
  const noSupervisor = await startTestAgent(t)
  t.equal((await clientFor(t, noSupervisor, seen, TOKEN).restartAgent()).status, 503, 'an agent with no way to restart itself says so')

  // The lifecycle and its failures.
  const name = uniqueName('Conformance')
  const bad = 'bad\u0001name'
  const port = 41000 + Math.floor(Math.random() * 2000)
  const body = agent.deployBody(name, { hostPort: port })
  t.equal((await client.deployTool({ body })).status, 201)
  t.equal((await client.deployTool({ body })).status, 200)
  t.equal((await client.deployTool({ body: { ...body, dockerImageUrl: 'dtma-test/busybox:v2' } })).status, 409)
  t.equal((await call.deployTool({ body: { instanceNameOnToolbox: name } })).status, 400)
  const huge = Array.from({ length: 40 }, (_, i) => `K${i}=${'x'.repeat(30_000)}`)
  t.equal((await client.deployTool({ body: agent.deployBody(uniqueName('Huge'), { env: huge }) })).status, 413)
  t.equal((await client.deployTool({ body: agent.deployBody(uniqueName('Unpullable'), { image: '127.0.0.1:5999/dtma-test/never:v1' }) })).status, 502)

  for (const id of ['listToolStatus', 'listTools'] as const) t.equal((await call[id]()).status, 200, id)
  const earlier = await earlierAgentTool(t, { name: legacyName('conformance'), hostPort: await freePort() })
  t.equal((await client.adoptLegacy({ params: { name: earlier.name }, body: { instanceNameOnToolbox: name } })).status, 409, 'adopt under a name that is taken')
  t.equal((await client.adoptLegacy({ params: { name: earlier.name }, body: {} })).status, 200, 'adopt')
  t.equal((await client.removeTool({ params: { name: earlier.name } })).status, 200)
  // A stopped instance keeps its host port; an earlier agent's container bound to it cannot be taken over.
  const holder = uniqueName('Port Holder')
  const heldPort = await freePort()
  t.equal((await client.deployTool({ body: agent.deployBody(holder, { hostPort: heldPort }) })).status, 201)
  t.equal((await client.stopTool({ params: { name: holder } })).status, 200)
  const squatter = await earlierAgentTool(t, { name: legacyName('squatter'), hostPort: heldPort })
  t.equal((await client.stopTool({ params: { name: squatter.name } })).status, 409, "stop of an earlier agent's container on another instance's port")
  t.equal((await client.removeTool({ params: { name: holder } })).status, 200)
  for (const id of ['getTool', 'startTool', 'stopTool', 'restartTool', 'toolLogs'] as const) {
    t.equal((await call[id]({ params: { name } })).status, 200, `${id} 200`)
    t.equal((await call[id]({ params: { name: uniqueName('Nobody') } })).status, 404, `${id} 404`)
    t.equal((await call[id]({ params: { name: bad } })).status, 400, `${id} 400`)
  }
  t.equal((await client.toolLogs({ params: { name }, query: { tail: 10001 } })).status, 400)

  // A host port taken by someone else while the tool is stopped: start and restart are 409.
  t.equal((await client.stopTool({ params: { name } })).status, 200)
  await occupy(t, port)
  t.equal((await client.startTool({ params: { name } })).status, 409, 'start on a taken port')
  t.equal((await client.restartTool({ params: { name } })).status, 409, 'restart on a taken port')

  const events = await client.events({ query: { name } })
  t.equal(events.status, 200)
  t.equal((await call.events({ query: { name: bad } })).status, 400)
  t.equal((await client.audit({ query: { instance: name, limit: 5 } })).status, 200)
  t.equal((await call.audit({ query: { limit: 0 } })).status, 400)

  t.equal((await client.removeTool({ params: { name } })).status, 200)
  t.equal((await client.removeTool({ params: { name } })).status, 404)
  t.equal((await client.removeTool({ params: { name: bad } })).status, 400)

  // The MCP routes, against real MCP servers.
  const mcpAgent = await startTestAgent(t, { env: { DTMA_MCP_START_TIMEOUT_S: '2', DTMA_TOOL_PORT_RANGE: '43150-43199', DTMA_MCP_MAX_SESSIONS: '4' } })
  await provokeMcpStatuses(t, mcpAgent, clientFor(t, mcpAgent, seen, TOKEN))
  await provokeGatewayStatuses(t, mcpAgent, clientFor(t, mcpAgent, seen, TOKEN), 4)

  // Docker unreachable: the Docker routes are 503, /status degrades, /health/ready is 503.
  const offline = await startTestAgent(t, { env: { DOCKER_SOCKET: '/nonexistent/docker.sock' }, waitReady: false })
  const offlineCall = clientFor(t, offline, seen, TOKEN) as unknown as typeof call
  for (const [id, route] of Object.entries(routes) as Array<[RouteId, RouteDefinition]>) {
    // /events needs no Docker to stream: its 503 is the cap on clients; so is /mcp's (on sessions).
    if (route.responses[503] === undefined || id === 'events' || id === 'gatewayPost') continue
    const containerName = id === 'adoptLegacy' ? 'an-earlier-container' : name
    const args =
      id === 'deployTool'
        ? { body: offline.deployBody(uniqueName('Offline')) }
        : { ...(route.params && { params: { name: containerName } }), ...(id === 'mcpPost' && { body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: {} } }), ...(id === 'approveTools' && { body: { all: true } }) }
    t.equal((await offlineCall[id](args)).status, 503, `${id} with Docker away`)
  }
  t.equal((await offlineCall.status()).status, 200, 'status stays 200 (degraded)')

  // Every declared status was seen, or is listed with the reason it cannot be.
  for (const [id, route] of Object.entries(routes) as Array<[RouteId, RouteDefinition]>) {
    for (const status of Object.keys(route.responses)) {
      const key = `${id} ${status}`
      if (NOT_PROVOKED[key] !== undefined) t.notOk(seen.has(key), `${key} is provoked now: drop it from NOT_PROVOKED`)
      else t.ok(seen.has(key), `${key} was answered and checked`)
    }
  }
  for (const key of Object.keys(NOT_PROVOKED)) t.ok(routes[key.split(' ')[0] as RouteId]?.responses, `${key} is a route of the table`)
})
