// toolbox-tools' list shapes and body-only forms: GET .../tools answers the
// rows as a bare array (toolboxTools.ts reads AccountToolInstanceRecord[]),
// a body without an action answers the live list the health monitor reads
// ({ success, tool_instances, dtma_connected, last_checked }), and
// { action, instanceId } works at toolbox-tools/{toolboxId} and with the
// toolbox id in the body, naming the instance by row id, container id or
// instance name; logs come from the agent's GET /tools/{name}/logs.
import * as assert from '../_test/assert.ts'
import { agentReplies, portMapping, toolInstance, type AgentCall, type AgentReply } from '../_test/fake-agent.ts'
import type { World } from '../_test/fixtures.ts'
import { NOW, toolboxTools } from '../_test/toolbox-tools.ts'

const CONTAINER_ID = 'a1b2c3d4e5f6'.padEnd(64, '7')

async function seedRow(world: World, name: string): Promise<string> {
  return String(
    (await world.standIn.seed('account_tool_instances', {
      account_tool_environment_id: world.toolboxId,
      tool_catalog_id: world.catalogId,
      instance_name_on_toolbox: name,
      status_on_toolbox: 'running',
      docker_image_url: 'dtma-test/busybox:v1',
      base_config_override_json: { environmentVariables: { API_KEY: 'sk-secret-value' }, portMappings: [{ containerPort: 8080, hostPort: 30001, protocol: 'tcp' }] }
    })).id
  )
}

/** One instance with a row (`id`) and one the agent adopted without one. */
function reportingAgent(id: () => string) {
  const instances = () => [
    toolInstance({ account_tool_instance_id: id(), instance_name_on_toolbox: 'Context7', status: 'running', container_id: CONTAINER_ID, ports: [portMapping(8080, 30001)] }),
    toolInstance({ account_tool_instance_id: '', instance_name_on_toolbox: 'adopted', status: 'stopped', container_id: 'f'.repeat(64), created: 1750000000 })
  ]
  return (call: AgentCall): AgentReply => {
    if (call.method === 'GET' && call.path === '/status') return agentReplies.status(instances())
    if (call.method === 'GET' && call.path === '/tools') return agentReplies.list(instances())
    if (call.method === 'GET' && call.path.endsWith('/logs')) return { status: 200, text: 'line 1\nline 2\n\nline 3\n', contentType: 'text/plain; charset=utf-8' }
    if (call.path.endsWith('/start') || call.path.endsWith('/restart')) return agentReplies.state('running')
    if (call.path.endsWith('/stop')) return agentReplies.state('stopped')
    if (call.method === 'DELETE') return { status: 200, body: { success: true, message: 'removed' } }
    return agentReplies.error(404, 'DTMA_NOT_FOUND', 'Not Found')
  }
}

Deno.test('GET .../tools answers the rows as a bare array, created_at as stored (ISO 8601), without env values, and needs no agent', async () => {
  const { world, call, agent } = await toolboxTools(() => 'hang', '')
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { public_ip_address: null })
    const id = await seedRow(world, 'Context7')
    const reply = await call('GET', `/${world.toolboxId}/tools`)
    assert.equal(reply.status, 200)
    assert.ok(Array.isArray(reply.body))
    assert.equal(reply.body.length, 1)
    assert.equal(reply.body[0].id, id)
    assert.match(reply.body[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/)
    assert.sameInstant(reply.body[0].created_at, String((await world.standIn.row('account_tool_instances', id))?.created_at))
    assert.equal(reply.body[0].mcp_transport_type, 'stdio', "the column's default")
    assert.deepEqual(reply.body[0].ports, [{ container_port: 8080, host_port: 30001, protocol: 'tcp' }])
    assert.ok(!('base_config_override_json' in reply.body[0]))
    assert.ok(!JSON.stringify(reply.body).includes('sk-secret-value'))
    assert.equal(agent.calls.length, 0)
  } finally {
    await world.close()
  }
})

Deno.test("the health monitor's { toolboxId } gets the live list with dtma_connected", async () => {
  let id = ''
  const { world, call } = await toolboxTools(reportingAgent(() => id))
  try {
    id = await seedRow(world, 'Context7')
    const reply = await call('POST', '', { toolboxId: world.toolboxId })
    assert.equal(reply.status, 200)
    assert.equal(reply.body.success, true)
    assert.equal(reply.body.dtma_connected, true)
    assert.equal(reply.body.last_checked, NOW.toISOString())
    assert.equal(reply.body.tool_instances.length, 2)
    assert.deepEqual(reply.body.tool_instances[0], {
      id: CONTAINER_ID,
      account_tool_instance_id: id,
      instance_name_on_toolbox: 'Context7',
      status_on_toolbox: 'running',
      container_id: CONTAINER_ID,
      image: 'dtma-test/busybox:v1',
      ports: [portMapping(8080, 30001)],
      created_at: new Date(1750278276 * 1000).toISOString()
    })
    assert.equal(reply.body.tool_instances[1].account_tool_instance_id, null)
    // The same list at toolbox-tools/{toolboxId} with an empty body.
    assert.deepEqual((await call('POST', `/${world.toolboxId}`)).body, reply.body)
  } finally {
    await world.close()
  }
})

Deno.test('the live list of a toolbox without IP says so; an agent away is dtma_connected false with the reason', async () => {
  const { world, call, agent } = await toolboxTools(() => agentReplies.error(500, 'DTMA_INTERNAL', 'broken'))
  try {
    const reply = await call('POST', '', { toolboxId: world.toolboxId })
    assert.equal(reply.status, 200)
    assert.equal(reply.body.dtma_connected, false)
    assert.equal(reply.body.connection_error, 'broken')
    assert.deepEqual(reply.body.tool_instances, [])
    await world.standIn.update('account_tool_environments', world.toolboxId, { public_ip_address: null })
    const calls = agent.calls.length
    assert.deepEqual((await call('POST', '', { toolboxId: world.toolboxId })).body, {
      success: true,
      tool_instances: [],
      dtma_connected: false,
      message: 'Toolbox not ready - no IP address assigned',
      last_checked: NOW.toISOString()
    })
    assert.equal(agent.calls.length, calls)
  } finally {
    await world.close()
  }
})

Deno.test('body forms act on an instance named by row id, container id, short container id or instance name', async () => {
  let id = ''
  const { world, call, agent } = await toolboxTools(reportingAgent(() => id))
  try {
    id = await seedRow(world, 'Context7')
    const byRow = await call('POST', `/${world.toolboxId}`, { action: 'stop', instanceId: id })
    assert.equal(byRow.status, 200)
    assert.equal(byRow.body.success, true)
    assert.equal(byRow.body.instanceId, id)
    assert.equal(byRow.body.action, 'stop')
    assert.equal(byRow.body.timestamp, NOW.toISOString())
    assert.equal(byRow.body.data.status_on_toolbox, 'stopped')
    const byContainer = await call('POST', '', { toolboxId: world.toolboxId, action: 'start', instanceId: CONTAINER_ID })
    assert.equal(byContainer.body.data.status_on_toolbox, 'running')
    assert.equal((await call('POST', '', { toolboxId: world.toolboxId, action: 'restart', instanceId: CONTAINER_ID.slice(0, 12) })).body.data.id, id)
    assert.equal((await call('POST', `/${world.toolboxId}`, { action: 'stop', instanceId: 'Context7' })).body.data.id, id)
    assert.deepEqual(await world.standIn.statusHistory(id), ['running', 'stopping', 'stopped', 'starting', 'running', 'starting', 'running', 'stopping', 'stopped'])
    assert.deepEqual(
      agent.calls.filter((c) => c.method === 'POST').map((c) => c.path),
      ['/tools/Context7/stop', '/tools/Context7/start', '/tools/Context7/restart', '/tools/Context7/stop']
    )
    // An adopted container without a row: acted on at the agent, nothing written.
    const patches = world.standIn.requests.filter((r) => r.method === 'PATCH').length
    const adopted = await call('POST', '', { toolboxId: world.toolboxId, action: 'start', instanceId: 'adopted' })
    assert.equal(adopted.status, 200)
    assert.equal(adopted.body.status, 'running')
    assert.equal(adopted.body.data, null)
    assert.equal(world.standIn.requests.filter((r) => r.method === 'PATCH').length, patches)
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test("logs are the agent's recent lines, in the body form and at .../logs; delete works in the body form", async () => {
  let id = ''
  const { world, call, agent } = await toolboxTools(reportingAgent(() => id))
  try {
    id = await seedRow(world, 'Context7')
    const body = await call('POST', `/${world.toolboxId}`, { action: 'logs', instanceId: id, tail: 20 })
    assert.equal(body.status, 200)
    assert.deepEqual(body.body, { success: true, instanceId: id, action: 'logs', timestamp: NOW.toISOString(), instanceName: 'Context7', logs: ['line 1', 'line 2', 'line 3'] })
    assert.equal(agent.calls.at(-1)?.path, '/tools/Context7/logs')
    assert.equal(agent.calls.at(-1)?.query.get('tail'), '20')
    const rest = await call('GET', `/${world.toolboxId}/tools/${id}/logs`)
    assert.deepEqual(rest.body.logs, ['line 1', 'line 2', 'line 3'])
    assert.equal(agent.calls.at(-1)?.query.get('tail'), '100')
    assert.equal((await call('GET', `/${world.toolboxId}/tools/${id}/logs?tail=0`)).status, 400)
    const removed = await call('POST', '', { toolboxId: world.toolboxId, action: 'delete', instanceId: id })
    assert.equal(removed.status, 200)
    assert.equal(removed.body.action, 'delete')
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 0)
    assert.equal(agent.calls.at(-1)?.method, 'DELETE')
  } finally {
    await world.close()
  }
})

Deno.test('body forms that cannot be served are 400 or 404 with a sentence, never a 500', async () => {
  const { world, call, agent } = await toolboxTools((c) => (c.path === '/tools' ? agentReplies.list([]) : agentReplies.error(404, 'DTMA_NOT_FOUND', 'Not Found')))
  try {
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['', {}, 400, /toolboxId is required/],
      ['', { toolboxId: world.toolboxId, action: 'start' }, 400, /instanceId is required with action 'start'/],
      ['', { toolboxId: world.toolboxId, action: 'explode', instanceId: 'x' }, 400, /action is one of start, stop, restart, logs, delete/],
      [`/${world.toolboxId}`, { toolboxId: crypto.randomUUID() }, 400, /differs/],
      ['', { toolboxId: world.toolboxId, action: 'stop', instanceId: 'nothing-by-this-name' }, 404, /not found on toolbox/],
      ['', { toolboxId: 'not-a-uuid' }, 404, /Toolbox 'not-a-uuid' not found/]
    ]
    for (const [path, body, status, error] of cases) {
      const reply = await call('POST', path, body)
      assert.equal(reply.status, status, JSON.stringify(body))
      assert.equal(reply.body.success, false)
      assert.match(reply.body.error, error)
    }
    assert.deepEqual(agent.calls.map((c) => `${c.method} ${c.path}`), ['GET /tools'])
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})
