// refresh-status handler against the Supabase stand-in and a scripted agent:
// a healthy agent is mirrored (environment and each instance, as enum
// values), a silent one marks the toolbox unresponsive with the reason.
import * as assert from '../_test/assert.ts'
import { fakeAgent, type AgentReply } from '../_test/fake-agent.ts'
import { createWorld, request } from '../_test/fixtures.ts'
import { statusOnToolbox } from '../../../packages/contract/src/index.ts'
import { handleRequest } from './handler.ts'

const NOW = new Date('2025-06-19T10:00:00.000Z')

function statusReply(instances: Array<{ id: string; status: string; docker: string }>): AgentReply {
  return {
    status: 200,
    body: {
      status: 'healthy',
      service: 'DTMA',
      version: '0.1.0',
      dtma_version: '0.1.0',
      timestamp: NOW.toISOString(),
      environment: { hasAuthToken: true, hasApiKey: true, hasApiBaseUrl: false, port: 30000 },
      tool_instances: instances.map((instance) => ({
        account_tool_instance_id: instance.id,
        instance_name_on_toolbox: `tool ${instance.id}`,
        container_id: 'c0ffee',
        container_name: 'dtma-tool',
        image: 'dtma-test/busybox:v1',
        ports: [],
        created: 1750278276,
        status: instance.status,
        desired_state: 'running',
        docker_status: instance.docker,
        health: 'none'
      }))
    }
  }
}

function seedInstance(world: ReturnType<typeof createWorld>, toolboxId: string, name: string): string {
  return String(
    world.standIn.seed('account_tool_instances', {
      account_tool_environment_id: toolboxId,
      tool_catalog_id: world.catalogId,
      instance_name_on_toolbox: name,
      status_on_toolbox: 'deploying',
      docker_image_url: 'dtma-test/busybox:v1',
      base_config_override_json: null,
      last_heartbeat_from_dtma: null,
      instance_error_message: null
    }).id
  )
}

Deno.test('the six agent statuses map onto enum values only', () => {
  assert.deepEqual(
    ['pending', 'starting', 'running', 'stopping', 'stopped', 'error', 'exited', 'RUNNING'].map(statusOnToolbox),
    ['deploying', 'deploying', 'running', 'deploying', 'stopped', 'error', 'error', 'running']
  )
})

Deno.test('a healthy agent is mirrored into the environment and its instances', async () => {
  const world = createWorld()
  try {
    const running = seedInstance(world, world.toolboxId, 'a')
    const died = seedInstance(world, world.toolboxId, 'b')
    // An instance of someone else's toolbox that a confused agent reports: left alone.
    const foreignToolbox = String(world.standIn.seed('account_tool_environments', { user_id: crypto.randomUUID(), public_ip_address: '10.0.0.9', status: 'active' }).id)
    const foreign = seedInstance(world, foreignToolbox, 'c')
    const agent = fakeAgent(() =>
      statusReply([
        { id: running, status: 'running', docker: 'running' },
        { id: died, status: 'error', docker: 'exited' },
        { id: foreign, status: 'stopped', docker: 'exited' }
      ])
    )
    const response = await handleRequest(request('POST', '/refresh-status', world.userJwt, { toolboxId: world.toolboxId }), {
      db: world.db,
      agent: { token: 'k', port: 30000, fetch: agent.fetch },
      now: () => NOW
    })
    const body = await response.json()
    assert.equal(response.status, 200)
    assert.deepEqual(body.data, [{ toolboxId: world.toolboxId, status: 'active', dtmaVersion: '0.1.0', instancesUpdated: 2 }])
    assert.deepEqual(agent.calls.map((c) => `${c.method} ${c.path}`), ['GET /status'])

    const environment = world.standIn.tables.account_tool_environments.find((row) => row.id === world.toolboxId)
    assert.equal(environment?.status, 'active')
    assert.equal(environment?.last_heartbeat_at, NOW.toISOString())
    assert.equal(environment?.dtma_last_known_version, '0.1.0')
    assert.equal((environment?.dtma_health_details_json as { status: string }).status, 'healthy')

    const byId = (id: string) => world.standIn.tables.account_tool_instances.find((row) => row.id === id)
    assert.equal(byId(running)?.status_on_toolbox, 'running')
    assert.equal(byId(died)?.status_on_toolbox, 'error')
    assert.match(String(byId(died)?.instance_error_message), /exited/)
    assert.equal(byId(foreign)?.status_on_toolbox, 'deploying')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('a silent agent marks the toolbox unresponsive with the reason', async () => {
  const world = createWorld()
  try {
    const agent = fakeAgent(() => 'hang')
    const response = await handleRequest(request('POST', '/refresh-status', world.userJwt, {}), {
      db: world.db,
      agent: { token: 'k', port: 30000, fetch: agent.fetch, statusTimeoutMs: 100 },
      now: () => NOW
    })
    const body = await response.json()
    assert.equal(response.status, 200)
    assert.equal(body.data.length, 1)
    assert.equal(body.data[0].status, 'unresponsive')
    assert.equal(body.data[0].code, 'DTMA_AGENT_TIMEOUT')
    const environment = world.standIn.tables.account_tool_environments[0]
    assert.equal(environment?.status, 'unresponsive')
    assert.match(String((environment?.dtma_health_details_json as { error: string }).error), /within 100 ms/)
  } finally {
    await world.close()
  }
})

Deno.test("refresh-status refuses a missing JWT and another user's toolbox", async () => {
  const world = createWorld()
  try {
    const agent = fakeAgent(() => statusReply([]))
    const deps = { db: world.db, agent: { token: 'k', port: 30000, fetch: agent.fetch } }
    assert.equal((await handleRequest(request('POST', '/refresh-status', undefined, {}), deps)).status, 401)
    assert.equal((await handleRequest(request('POST', '/refresh-status', world.otherUserJwt, { toolboxId: world.toolboxId }), deps)).status, 404)
    assert.equal(agent.calls.length, 0)
  } finally {
    await world.close()
  }
})
