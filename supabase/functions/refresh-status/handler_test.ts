// refresh-status handler against the Supabase stand-in and a scripted agent:
// a healthy agent is mirrored (environment and each instance, as enum
// values); a silent agent, a non-2xx answer or one that is not a JSON object
// marks the toolbox unresponsive with the reason; a toolbox without IP is
// pending and one being taken down is skipped, neither called nor written.
import * as assert from '../_test/assert.ts'
import { agentReplies, fakeAgent, toolInstance, type AgentReply } from '../_test/fake-agent.ts'
import { createWorld, request, seedInstance, type World } from '../_test/fixtures.ts'
import { statusOnToolbox } from '../../../packages/contract/src/index.ts'
import { handleRequest } from './handler.ts'

const NOW = new Date('2025-06-19T10:00:00.000Z')

async function refresh(world: World, reply: () => AgentReply, body: Record<string, unknown> = { toolboxId: world.toolboxId }) {
  const agent = fakeAgent(reply)
  const response = await handleRequest(request('POST', '/refresh-status', world.userJwt, body), {
    db: world.db,
    agent: { token: 'backend-key-0123456789abcdef0123', port: 30000, fetch: agent.fetch, statusTimeoutMs: 100 },
    now: () => NOW
  })
  return { status: response.status, body: await response.json(), agent }
}

const environmentOf = (world: World, id = world.toolboxId) => world.standIn.row('account_tool_environments', id)

Deno.test('the six agent statuses map onto enum values only', () => {
  assert.deepEqual(
    ['pending', 'starting', 'running', 'stopping', 'stopped', 'error', 'exited', 'RUNNING'].map(statusOnToolbox),
    ['deploying', 'deploying', 'running', 'deploying', 'stopped', 'error', 'error', 'running']
  )
})

Deno.test('a healthy agent is mirrored into the environment and its instances', async () => {
  const world = await createWorld()
  try {
    const running = await seedInstance(world, world.toolboxId, 'a')
    const died = await seedInstance(world, world.toolboxId, 'b')
    // An instance of someone else's toolbox that a confused agent reports: left alone.
    const foreignToolbox = String((await world.standIn.seed('account_tool_environments', { user_id: crypto.randomUUID(), public_ip_address: '10.0.0.9', status: 'active' })).id)
    const foreign = await seedInstance(world, foreignToolbox, 'c')
    await world.standIn.update('account_tool_environments', world.toolboxId, { status: 'awaiting_heartbeat' })
    const { status, body, agent } = await refresh(world, () =>
      agentReplies.status([
        toolInstance({ account_tool_instance_id: running, instance_name_on_toolbox: 'a', status: 'running' }),
        toolInstance({ account_tool_instance_id: died, instance_name_on_toolbox: 'b', status: 'error', docker_status: 'exited' }),
        toolInstance({ account_tool_instance_id: foreign, instance_name_on_toolbox: 'c', status: 'stopped' }),
        // Adopted without a row id: skipped, no query with a non-uuid id.
        toolInstance({ account_tool_instance_id: '', instance_name_on_toolbox: 'd', status: 'running' })
      ], NOW.toISOString())
    )
    assert.equal(status, 200, JSON.stringify(body))
    assert.deepEqual(body.data, [{ toolboxId: world.toolboxId, status: 'active', dtmaVersion: '0.1.0', instancesUpdated: 2 }])
    assert.deepEqual(agent.calls.map((c) => `${c.method} ${c.path}`), ['GET /status'])

    const environment = (await environmentOf(world))
    assert.equal(environment?.status, 'active')
    assert.sameInstant(environment?.last_heartbeat_at, NOW)
    assert.equal(environment?.dtma_last_known_version, '0.1.0')
    assert.equal((environment?.dtma_health_details_json as { status: string }).status, 'healthy')

    const byId = (id: string) => world.standIn.row('account_tool_instances', id)
    assert.equal((await byId(running))?.status_on_toolbox, 'running')
    assert.equal((await byId(died))?.status_on_toolbox, 'error')
    assert.match(String((await byId(died))?.instance_error_message), /exited/)
    assert.equal((await byId(foreign))?.status_on_toolbox, 'deploying')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('a silent agent, a non-2xx answer and an answer that is no JSON object each make the toolbox unresponsive with the reason', async () => {
  const cases: Array<[AgentReply, string, RegExp]> = [
    ['hang', 'DTMA_AGENT_TIMEOUT', /within 100 ms/],
    [agentReplies.error(503, 'DTMA_NOT_READY', 'DTMA is starting'), 'DTMA_NOT_READY', /DTMA is starting/],
    [{ status: 200, text: '{"status":', contentType: 'application/json' }, 'DTMA_AGENT_BAD_RESPONSE', /invalid JSON/],
    [{ status: 200, text: '<html>proxy</html>', contentType: 'text/html' }, 'DTMA_AGENT_BAD_RESPONSE', /not a JSON object|other than a JSON object/]
  ]
  for (const [reply, code, reason] of cases) {
    const world = await createWorld()
    try {
      const { status, body } = await refresh(world, () => reply, {})
      assert.equal(status, 200)
      assert.equal(body.data.length, 1)
      assert.equal(body.data[0].status, 'unresponsive')
      assert.equal(body.data[0].code, code)
      const environment = (await environmentOf(world))
      assert.equal(environment?.status, 'unresponsive')
      assert.match(String((environment?.dtma_health_details_json as { error: string }).error), reason)
    } finally {
      await world.close()
    }
  }
})

Deno.test('a toolbox without IP is pending and one being taken down is skipped: neither called nor written', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { public_ip_address: null, status: 'awaiting_heartbeat' })
    const gone = await world.standIn.seed('account_tool_environments', { user_id: world.userId, public_ip_address: '10.0.0.7', status: 'deprovisioned' })
    const going = await world.standIn.seed('account_tool_environments', { user_id: world.userId, public_ip_address: '10.0.0.8', status: 'pending_deprovision' })
    const { body, agent } = await refresh(world, () => agentReplies.status([]), {})
    const byId = Object.fromEntries(body.data.map((refresh: { toolboxId: string }) => [refresh.toolboxId, refresh]))
    assert.equal(byId[world.toolboxId].status, 'pending')
    assert.match(byId[world.toolboxId].reason, /no IP address yet/)
    assert.equal(byId[String(gone.id)].status, 'skipped')
    assert.equal(byId[String(going.id)].status, 'skipped')
    assert.equal(agent.calls.length, 0)
    assert.equal(world.standIn.requests.filter((r) => r.method === 'PATCH').length, 0)
    assert.equal((await environmentOf(world))?.status, 'awaiting_heartbeat')
  } finally {
    await world.close()
  }
})

Deno.test('an answer from a toolbox being deprovisioned is recorded without making it active', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { status: 'deprovisioning' })
    const { body } = await refresh(world, () => agentReplies.status([]))
    assert.equal(body.data[0].status, 'active')
    assert.equal((await environmentOf(world))?.status, 'deprovisioning')
    assert.sameInstant((await environmentOf(world))?.last_heartbeat_at, NOW)
  } finally {
    await world.close()
  }
})

Deno.test("refresh-status refuses a missing JWT and another user's toolbox", async () => {
  const world = await createWorld()
  try {
    const agent = fakeAgent(() => agentReplies.status([]))
    const deps = { db: world.db, agent: { token: 'backend-key-0123456789abcdef0123', port: 30000, fetch: agent.fetch } }
    assert.equal((await handleRequest(request('POST', '/refresh-status', undefined, {}), deps)).status, 401)
    assert.equal((await handleRequest(request('POST', '/refresh-status', world.otherUserJwt, { toolboxId: world.toolboxId }), deps)).status, 404)
    assert.equal(agent.calls.length, 0)
  } finally {
    await world.close()
  }
})

Deno.test("an MCP server's state goes into the instance's mcp_* columns, keeping what the backend wrote", async () => {
  const world = await createWorld()
  try {
    const mcp = await seedInstance(world, world.toolboxId, 'mcp')
    const plain = await seedInstance(world, world.toolboxId, 'plain')
    const row = (id: string) => world.standIn.row('account_tool_instances', id)
    // What adminMCPService wrote after its deploy.
    await world.standIn.update('account_tool_instances', mcp, { mcp_server_type: 'mcp_server', mcp_transport_type: 'stdio', mcp_endpoint_path: '/mcp', mcp_server_capabilities: ['tools'], mcp_discovery_metadata: { adminDeployed: true } })
    const serverInfo = { name: 'context7', version: '1.0.0' }
    const { status } = await refresh(world, () =>
      agentReplies.status([
        toolInstance({
          account_tool_instance_id: mcp,
          instance_name_on_toolbox: 'Context7 MCP Server-1',
          status: 'running',
          mcp: {
            transport: 'stdio', endpoint: '/mcp', port: null, capabilities: ['tools'], url_path: '/tools/Context7%20MCP%20Server-1/mcp', status: 'ready', protocol_version: '2025-06-18',
            server_info: serverInfo, server_capabilities: ['tools', 'logging'], last_ping_ms: 1.2, tools_count: 2, tools_fingerprint: 'f'.repeat(64), checked_at: NOW.toISOString(), last_error: null
          }
        }),
        toolInstance({ account_tool_instance_id: plain, instance_name_on_toolbox: 'plain', status: 'running' })
      ], NOW.toISOString())
    )
    assert.equal(status, 200)
    assert.equal((await row(mcp))?.mcp_transport_type, 'stdio')
    assert.equal((await row(mcp))?.mcp_endpoint_path, '/tools/Context7%20MCP%20Server-1/mcp', 'the path on the agent callers should use')
    assert.deepEqual((await row(mcp))?.mcp_server_capabilities, ['tools', 'logging'], 'what the server announced')
    assert.equal((await row(mcp))?.mcp_server_type, 'mcp_server', 'left as the backend wrote it')
    const metadata = (await row(mcp))?.mcp_discovery_metadata as { adminDeployed: boolean; dtma: Record<string, unknown> }
    assert.equal(metadata.adminDeployed, true, "the backend's metadata is kept")
    assert.deepEqual({ status: metadata.dtma.status, tools_count: metadata.dtma.tools_count, server_info: metadata.dtma.server_info, refreshed_at: metadata.dtma.refreshed_at }, { status: 'ready', tools_count: 2, server_info: serverInfo, refreshed_at: NOW.toISOString() })
    assert.equal((await row(plain))?.mcp_discovery_metadata ?? null, null, 'an instance that is not an MCP server: untouched')
    assert.equal((await row(plain))?.mcp_transport_type, 'stdio', "its column's default, untouched")
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})
