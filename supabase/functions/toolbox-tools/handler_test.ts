// toolbox-tools handler against the Supabase stand-in and a scripted agent:
// auth and ownership, the status transitions, port choice, error passing,
// deadlines, the re-deploy on a 404 from start, and secrets kept out of answers.
import * as assert from '../_test/assert.ts'
import { agentReplies, fakeAgent, type AgentCall, type AgentReply } from '../_test/fake-agent.ts'
import { createWorld, request, type World } from '../_test/fixtures.ts'
import { handleRequest } from './handler.ts'

const AGENT_TOKEN = 'backend-to-dtma-key'
const NAME = 'Context7 MCP Server-1750278276605'

function setup(script: (call: AgentCall) => AgentReply, port = 30000) {
  const world = createWorld()
  const agent = fakeAgent(script)
  const deps = { db: world.db, agent: { token: AGENT_TOKEN, port, fetch: agent.fetch, statusTimeoutMs: 200, deployTimeoutMs: 300 } }
  const call = async (method: string, path: string, body?: unknown, jwt: string | null = world.userJwt) => {
    const response = await handleRequest(request(method, `/toolbox-tools/${world.toolboxId}${path}`, jwt ?? undefined, body), deps)
    return { status: response.status, body: await response.json() }
  }
  return { world, agent, call }
}

/** An agent that deploys anything and starts/stops on request. */
function happyAgent(call: AgentCall): AgentReply {
  if (call.method === 'POST' && call.path === '/tools') return agentReplies.deployed(call.body as never)
  if (call.path.endsWith('/start')) return agentReplies.state('running')
  if (call.path.endsWith('/stop')) return agentReplies.state('stopped')
  if (call.path.endsWith('/restart')) return agentReplies.state('running')
  if (call.method === 'DELETE') return { status: 200, body: { success: true, message: 'removed' } }
  return agentReplies.error(404, 'DTMA_ROUTE_NOT_FOUND', 'Not Found')
}

async function deploy(call: ReturnType<typeof setup>['call'], world: World, extra: Record<string, unknown> = {}) {
  return await call('POST', '/tools', { toolCatalogId: world.catalogId, instanceNameOnToolbox: NAME, ...extra })
}

function assertWireClean(world: World): void {
  assert.deepEqual(world.standIn.violations, [])
}

Deno.test('a request without a JWT is 401 and touches no table', async () => {
  const { world, call, agent } = setup(happyAgent)
  try {
    const reply = await call('GET', '/tools', undefined, null)
    assert.equal(reply.status, 401)
    assert.equal(reply.body.success, false)
    assert.equal(reply.body.code, 'DTMA_UNAUTHORIZED')
    assert.equal(world.standIn.requests.length, 0)
    assert.equal(agent.calls.length, 0)
  } finally {
    await world.close()
  }
})

Deno.test("another user's toolbox is 404 and the agent is never called", async () => {
  const { world, call, agent } = setup(happyAgent)
  try {
    const reply = await deploy(call, world, {})
    assert.equal(reply.status, 201)
    const foreign = await call('GET', '/tools', undefined, world.otherUserJwt)
    assert.equal(foreign.status, 404)
    assert.equal(foreign.body.code, 'DTMA_NOT_FOUND')
    const calls = agent.calls.length
    const id = reply.body.data.id
    assert.equal((await call('POST', `/tools/${id}/stop`, undefined, world.otherUserJwt)).status, 404)
    assert.equal(agent.calls.length, calls)
    // The auth check is Supabase Auth's own endpoint, with the user's JWT.
    assert.ok(world.standIn.requests.some((r) => r.method === 'GET' && r.path === '/auth/v1/user'))
    assertWireClean(world)
  } finally {
    await world.close()
  }
})

Deno.test('deploy sends the contract body and moves deploying -> running', async () => {
  const { world, call, agent } = setup(happyAgent)
  try {
    const reply = await deploy(call, world, { baseConfigOverrideJson: { environmentVariables: { API_KEY: 'sk-secret-value', MODE: 'x=y' } } })
    assert.equal(reply.status, 201)
    assert.equal(reply.body.data.status_on_toolbox, 'running')
    assert.equal(reply.body.data.host_port, 30001)
    assert.deepEqual(reply.body.data.environment_variable_keys, ['API_KEY', 'MODE'])
    assert.ok(!JSON.stringify(reply.body).includes('sk-secret-value'), 'env values never go back to the browser')

    const [deployCall] = agent.calls
    assert.equal(deployCall?.authorization, `Bearer ${AGENT_TOKEN}`)
    assert.deepEqual(deployCall?.body, {
      dockerImageUrl: 'dtma-test/busybox:v1',
      instanceNameOnToolbox: NAME,
      accountToolInstanceId: reply.body.data.id,
      baseConfigOverrideJson: {
        Env: ['API_KEY=sk-secret-value', 'MODE=x=y'],
        HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '30001' }] } }
      }
    })
    assert.deepEqual(world.standIn.statusHistory.get(reply.body.data.id), ['deploying', 'running'])

    const listed = await call('GET', '/tools')
    assert.equal(listed.status, 200)
    assert.equal(listed.body.data.length, 1)
    assert.ok(!JSON.stringify(listed.body).includes('sk-secret-value'))
    // The insert asked for the row back; PostgREST only returns it with this Prefer.
    const insert = world.standIn.requests.find((r) => r.method === 'POST' && r.path === '/rest/v1/account_tool_instances')
    assert.equal(insert?.prefer, 'return=representation')
    assertWireClean(world)
  } finally {
    await world.close()
  }
})

Deno.test("host ports skip the agent's own port and ports of sibling instances", async () => {
  const { world, call, agent } = setup(happyAgent, 30001)
  try {
    assert.equal((await deploy(call, world)).body.data.host_port, 30002)
    assert.equal((await call('POST', '/tools', { toolCatalogId: world.catalogId, instanceNameOnToolbox: `${NAME}-b` })).body.data.host_port, 30003)
    const duplicate = await deploy(call, world)
    assert.equal(duplicate.status, 409)
    assert.equal(agent.calls.length, 2, 'a duplicate name is refused before the agent is called')
  } finally {
    await world.close()
  }
})

Deno.test('a host port taken outside DTMA moves the deploy to the next port', async () => {
  const { world, call } = setup((c) => {
    const body = c.body as { baseConfigOverrideJson: { HostConfig: { PortBindings: Record<string, Array<{ HostPort: string }>> } } }
    const port = body.baseConfigOverrideJson.HostConfig.PortBindings['8080/tcp']?.[0]?.HostPort
    if (port === '30001') return agentReplies.error(409, 'DTMA_PORT_CONFLICT', 'Host port 30001 is already in use')
    return happyAgent(c)
  })
  try {
    const reply = await deploy(call, world)
    assert.equal(reply.status, 201)
    assert.equal(reply.body.data.host_port, 30002)
    const row = world.standIn.tables.account_tool_instances[0]
    assert.equal((row?.base_config_override_json as { hostPort: number }).hostPort, 30002, 'the stored config follows the port actually used')
  } finally {
    await world.close()
  }
})

Deno.test("an agent failure reaches the caller with the agent's reason and the row says error", async () => {
  const { world, call } = setup(() => agentReplies.error(502, 'DTMA_DOCKER_ERROR', 'Docker failed: no space left on device'))
  try {
    const reply = await deploy(call, world)
    assert.equal(reply.status, 502)
    assert.deepEqual(reply.body, { success: false, error: 'Docker failed: no space left on device', code: 'DTMA_DOCKER_ERROR' })
    const row = world.standIn.tables.account_tool_instances[0]
    assert.equal(row?.status_on_toolbox, 'error')
    assert.equal(row?.instance_error_message, 'Docker failed: no space left on device')
    assert.deepEqual(world.standIn.statusHistory.get(String(row?.id)), ['deploying', 'error'])
  } finally {
    await world.close()
  }
})

Deno.test('an agent that does not answer times out instead of hanging', async () => {
  let hang = false
  const { world, call } = setup((c) => (hang ? 'hang' : happyAgent(c)))
  try {
    const id = (await deploy(call, world)).body.data.id
    hang = true
    const started = Date.now()
    const reply = await call('POST', `/tools/${id}/stop`)
    assert.ok(Date.now() - started < 2000)
    assert.equal(reply.status, 504)
    assert.equal(reply.body.code, 'DTMA_AGENT_TIMEOUT')
    assert.deepEqual(world.standIn.statusHistory.get(id), ['deploying', 'running', 'stopping', 'error'])
    assert.ok(!JSON.stringify(reply.body).includes(AGENT_TOKEN))
  } finally {
    await world.close()
  }
})

Deno.test('a 404 from start re-deploys with the stored config and starts once', async () => {
  let lost = false
  const { world, call, agent } = setup((c) => {
    if (lost && c.path.endsWith('/start')) {
      lost = false
      return agentReplies.error(404, 'DTMA_NOT_FOUND', `Tool instance '${NAME}' not found or not managed by this DTMA.`)
    }
    return happyAgent(c)
  })
  try {
    const deployed = await deploy(call, world, { baseConfigOverrideJson: { environmentVariables: { TOKEN: 't' }, containerPort: 9000 } })
    lost = true
    const before = agent.calls.length
    const reply = await call('POST', `/tools/${deployed.body.data.id}/start`)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.data.status_on_toolbox, 'running')
    const calls = agent.calls.slice(before)
    assert.deepEqual(calls.map((c) => `${c.method} ${c.path}`), [`POST /tools/${NAME}/start`, 'POST /tools', `POST /tools/${NAME}/start`])
    assert.deepEqual(calls[1]?.body, agent.calls[0]?.body, 'the re-deploy repeats the original deploy')
  } finally {
    await world.close()
  }
})

Deno.test('stop, restart and delete move the row through their statuses', async () => {
  const { world, call, agent } = setup(happyAgent)
  try {
    const id = (await deploy(call, world)).body.data.id
    assert.equal((await call('POST', `/tools/${id}/stop`)).body.data.status_on_toolbox, 'stopped')
    assert.equal((await call('POST', `/tools/${id}/restart`)).body.data.status_on_toolbox, 'running')
    const removed = await call('DELETE', `/tools/${id}`)
    assert.equal(removed.status, 200)
    assert.deepEqual(world.standIn.statusHistory.get(id), ['deploying', 'running', 'stopping', 'stopped', 'starting', 'running', 'pending_delete'])
    assert.equal(world.standIn.tables.account_tool_instances.length, 0)
    assert.deepEqual(agent.calls.slice(1).map((c) => `${c.method} ${c.path}`), [
      `POST /tools/${NAME}/stop`,
      `POST /tools/${NAME}/restart`,
      `DELETE /tools/${NAME}`
    ])
    assert.equal((await call('POST', `/tools/${id}/start`)).status, 404)
    assertWireClean(world)
  } finally {
    await world.close()
  }
})

Deno.test('a bad deploy body is 400, names the field, and writes nothing', async () => {
  const { world, call, agent } = setup(happyAgent)
  try {
    const reply = await call('POST', '/tools', { toolCatalogId: world.catalogId, instanceNameOnToolbox: 'a/b', baseConfigOverrideJson: { environmentVariables: { 'BAD-KEY': 'secret-1' } } })
    assert.equal(reply.status, 400)
    assert.equal(reply.body.code, 'DTMA_BAD_REQUEST')
    assert.match(reply.body.error, /instanceNameOnToolbox/)
    assert.ok(!reply.body.error.includes('secret-1'))
    assert.equal(world.standIn.tables.account_tool_instances.length, 0)
    assert.equal(agent.calls.length, 0)
    assert.equal((await call('PUT', '/tools')).status, 404)
  } finally {
    await world.close()
  }
})
