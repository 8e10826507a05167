// Agentopia's frontend replayed against DTMA's functions behind the
// stand-in's gateway, with a scripted agent that remembers what it runs:
// each test is one sequence of the real callers' requests (see
// agentopia-frontend.ts), checked on what those callers read back, on the
// rows, and on the wire.
import * as assert from './assert.ts'
import { AgentopiaFrontend, serveFunctions, type McpServerConfig } from './agentopia-frontend.ts'
import { fakeToolbox } from './fake-toolbox.ts'
import { ANON_KEY, createWorld, type World } from './fixtures.ts'

const NAME = 'Context7 MCP Server-1750278276605'
const CONFIG: McpServerConfig = {
  serverName: NAME,
  serverType: 'mcp_server',
  dockerImage: 'dtma-test/busybox:v1',
  transport: 'http',
  capabilities: ['tools'],
  environmentVariables: { CONTEXT7_API_KEY: 'ctx7-secret-value' }
}

async function setup() {
  const world = await createWorld()
  const agent = fakeToolbox()
  serveFunctions(world, { token: 'backend-to-dtma-key-0123456789abcdef', port: 30000, fetch: agent.fetch, statusTimeoutMs: 200 })
  return { world, agent, frontend: new AgentopiaFrontend(world, world.userJwt) }
}

const rowOf = (world: World, id: unknown) => world.standIn.row('account_tool_instances', String(id))

/** Every request reached the gateway as a signed-in browser sends it, and the database saw nothing amiss. */
function assertWire(world: World): void {
  for (const sent of world.standIn.functionRequests) {
    // toolboxTools.ts lists with a plain fetch: its session's Authorization, no apikey.
    if (sent.method !== 'GET') assert.equal(sent.headers.apikey, ANON_KEY, `${sent.method} ${sent.path}`)
    assert.equal(sent.headers.authorization, `Bearer ${world.userJwt}`, `${sent.method} ${sent.path}`)
    if (sent.body !== '') assert.equal(sent.headers['content-type'], 'application/json', `${sent.method} ${sent.path}`)
  }
  assert.deepEqual(world.standIn.violations, [])
}

Deno.test('adminMCPService: deploy, its mcp_* update, both lists, stop, start, restart, logs, refresh and delete', async () => {
  const { world, agent, frontend } = await setup()
  try {
    const { deployment, mcpUpdate } = await frontend.deployMCPServer(world.toolboxId, CONFIG)
    assert.equal(deployment.status, 201, JSON.stringify(deployment.error))
    const id = deployment.data?.id
    assert.ok((await rowOf(world, id)), 'deployment.id is the account_tool_instances row')
    assert.equal(mcpUpdate, null, "the frontend's own update of the row succeeds")
    assert.deepEqual(deployment.data?.warnings, ["Host port 30000/tcp is DTMA's own port: 30001 is used instead"])
    assert.ok(!JSON.stringify(deployment.data).includes('ctx7-secret-value'))
    assert.equal(agent.instances.get(NAME)?.ports[0]?.host_port, 30001)
    const row = (await rowOf(world, id))!
    assert.equal(row.mcp_server_type, 'mcp_server')
    assert.equal(row.mcp_transport_type, 'http')
    assert.equal(row.mcp_endpoint_path, '/mcp')
    assert.deepEqual(row.mcp_server_capabilities, ['tools'])
    assert.equal((row.mcp_discovery_metadata as { adminDeployed: boolean }).adminDeployed, true)
    assert.ok(world.standIn.requests.some((r) => r.method === 'PATCH' && r.userId === world.userId), 'that update ran as the user, under RLS')

    assert.deepEqual(await frontend.healthMonitorCheck(world.toolboxId), { healthy: true, toolInstances: 1, dtmaConnected: true })
    const rows = await frontend.listToolInstancesForToolbox(world.toolboxId)
    assert.equal(rows.length, 1)
    assert.equal(rows[0]?.id, id)
    assert.equal(rows[0]?.mcp_transport_type, 'http')
    assert.sameInstant(rows[0]?.created_at, String((await rowOf(world, id))?.created_at))
    assert.deepEqual(rows[0]?.ports, [{ container_port: 8080, host_port: 30001, protocol: 'tcp' }])

    assert.equal((await frontend.stopMCPServer(world.toolboxId, String(id))).data?.status, 'stopped')
    assert.equal(agent.instances.get(NAME)?.state, 'stopped')
    assert.equal((await frontend.startMCPServer(world.toolboxId, String(id))).data?.status, 'running')
    assert.equal((await frontend.restartMCPServer(world.toolboxId, String(id))).data?.status, 'running')
    const logs = await frontend.toolboxAction(world.toolboxId, 'logs', String(id))
    assert.deepEqual(logs.data?.logs, [`${NAME} listening on 8080`, `${NAME} ready`])

    const refreshed = await frontend.refreshToolboxStatus(world.toolboxId)
    assert.equal(refreshed.status, 200)
    assert.equal(refreshed.data?.id, world.toolboxId)
    assert.equal(refreshed.data?.status, 'active')
    assert.equal(refreshed.data?.dtma_last_known_version, '0.1.0')

    const removed = await frontend.deleteMCPServer(world.toolboxId, String(id))
    assert.equal(removed.status, 200, JSON.stringify(removed.error))
    assert.equal((await rowOf(world, id)), undefined)
    assert.equal(agent.instances.size, 0)
    assert.deepEqual(await world.standIn.statusHistory(String(id)), [
      'deploying', 'running', 'stopping', 'stopped', 'starting', 'running', 'stopping', 'stopped', 'starting', 'running', 'stopping', 'stopped', 'pending_delete'
    ])
    assert.deepEqual(await frontend.healthMonitorCheck(world.toolboxId), { healthy: true, toolInstances: 0, dtmaConnected: true })
    assertWire(world)
  } finally {
    await world.close()
  }
})

Deno.test('adminMCPService: a second MCP server on a toolbox is a 409 that says what to do, and doing it works', async () => {
  const { world, frontend } = await setup()
  try {
    const first = await frontend.deployMCPServer(world.toolboxId, CONFIG)
    const id = String(first.deployment.data?.id)
    const second = await frontend.deployMCPServer(world.toolboxId, { ...CONFIG, serverName: 'Another MCP-1750278300000' })
    assert.equal(second.deployment.status, 409)
    assert.equal(second.deployment.data, null)
    assert.equal(second.deployment.error?.body.code, 'DTMA_CONFLICT')
    assert.match(String(second.deployment.error?.body.error), new RegExp(`remove it first \\(DELETE toolbox-tools/${world.toolboxId}/tools/${id}\\)`))
    assert.equal(second.mcpUpdate, null, 'no deployment.id, so the frontend writes nothing')
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 1)

    assert.equal((await frontend.deleteMCPServer(world.toolboxId, id)).status, 200)
    const again = await frontend.deployMCPServer(world.toolboxId, { ...CONFIG, serverName: 'Another MCP-1750278300000' })
    assert.equal(again.deployment.status, 201)
    assertWire(world)
  } finally {
    await world.close()
  }
})

Deno.test("the earlier function's body forms: the health monitor's list, then every action by row id or by the list's container id", async () => {
  const { world, agent, frontend } = await setup()
  try {
    const id = String((await frontend.deployMCPServer(world.toolboxId, CONFIG)).deployment.data?.id)
    const list = await frontend.supabase.functions.invoke('toolbox-tools', { body: { toolboxId: world.toolboxId } })
    const containerId = String(list.data.tool_instances[0].id)
    assert.equal(containerId, list.data.tool_instances[0].container_id, "the earlier list's id is the container id")

    for (const [action, instanceId, state] of [['stop', id, 'stopped'], ['start', containerId, 'running'], ['restart', containerId.slice(0, 12), 'running'], ['stop', NAME, 'stopped']]) {
      const reply = await frontend.toolboxAction(world.toolboxId, action as string, instanceId as string)
      assert.equal(reply.status, 200, `${action} ${instanceId}: ${JSON.stringify(reply.error)}`)
      assert.equal(reply.data?.status, state)
      assert.equal(agent.instances.get(NAME)?.state, state)
      assert.equal((await rowOf(world, id))?.status_on_toolbox, state)
    }
    // The toolbox id in the body instead of the path.
    const logs = await frontend.supabase.functions.invoke('toolbox-tools', { body: { toolboxId: world.toolboxId, action: 'logs', instanceId: containerId } })
    assert.equal(logs.data.logs.length, 2)
    const removed = await frontend.toolboxAction(world.toolboxId, 'delete', containerId)
    assert.equal(removed.status, 200)
    assert.equal((await rowOf(world, id)), undefined, 'the row goes with the container it was found by')
    const unknown = await frontend.toolboxAction(world.toolboxId, 'start', containerId)
    assert.equal(unknown.status, 404)
    assertWire(world)
  } finally {
    await world.close()
  }
})

Deno.test('an instance the agent lost is deployed again on start, asking for the host port it was given', async () => {
  const { world, agent, frontend } = await setup()
  try {
    const id = String((await frontend.deployMCPServer(world.toolboxId, { ...CONFIG, portMappings: [{ containerPort: 8080, hostPort: 0 }] })).deployment.data?.id)
    agent.lose(NAME)
    const started = await frontend.startMCPServer(world.toolboxId, id)
    assert.equal(started.status, 200, JSON.stringify(started.error))
    assert.equal(agent.instances.get(NAME)?.state, 'running')
    assert.equal(agent.instances.get(NAME)?.ports[0]?.host_port, 30001)
    assert.deepEqual(agent.instances.get(NAME)?.body.baseConfigOverrideJson?.portMappings, [{ containerPort: 8080, hostPort: 30001, protocol: 'tcp' }])
    assertWire(world)
  } finally {
    await world.close()
  }
})

Deno.test('the refresh at toolboxes-user: a toolbox without IP stays pending, a silent agent makes it unresponsive', async () => {
  const { world, frontend } = await setup()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { status: 'awaiting_heartbeat', public_ip_address: null })
    const pending = await frontend.refreshToolboxStatus(world.toolboxId)
    assert.equal(pending.data?.status, 'awaiting_heartbeat')
    assert.deepEqual(await frontend.healthMonitorCheck(world.toolboxId), { healthy: true, toolInstances: 0, dtmaConnected: false })

    const silent = await createWorld()
    try {
      serveFunctions(silent, { token: 'backend-key-0123456789abcdef0123', port: 30000, fetch: fakeToolboxThatHangs(), statusTimeoutMs: 50 })
      const reply = await new AgentopiaFrontend(silent, silent.userJwt).refreshToolboxStatus(silent.toolboxId)
      assert.equal(reply.data?.status, 'unresponsive')
      assert.match(String((reply.data?.dtma_health_details_json as { error: string }).error), /within 50 ms/)
    } finally {
      await silent.close()
    }
    // Someone else's toolbox is not found, whatever the path.
    const stranger = new AgentopiaFrontend(world, world.otherUserJwt)
    assert.equal((await stranger.refreshToolboxStatus(world.toolboxId)).status, 404)
    assert.equal((await stranger.healthMonitorCheck(world.toolboxId)).healthy, false)
  } finally {
    await world.close()
  }
})

function fakeToolboxThatHangs(): typeof fetch {
  return ((_input: unknown, init?: RequestInit) =>
    new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))) as typeof fetch
}
