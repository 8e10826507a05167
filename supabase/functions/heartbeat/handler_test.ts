// heartbeat against the Supabase stand-in with the body a DTMA agent builds
// (packages/agent/src/heartbeat/heartbeat-payload.ts, typed from the
// contract's HeartbeatBody): the toolbox found by its DTMA_BEARER_TOKEN, only
// existing columns written (the stand-in refuses any other), the toolbox made
// active after its first heartbeat, instance ids of other toolboxes ignored,
// the enum enforced by the schema, and wrong tokens or bodies refused
// without a write. One database call per heartbeat (dtma_heartbeat), and an
// instance's row written only when its status changed.
import { statusOnToolbox, type HeartbeatBody, type ToolInstance } from '../../../packages/contract/src/index.ts'
import * as assert from '../_test/assert.ts'
import { portMapping, toolInstance } from '../_test/fake-agent.ts'
import { createWorld, seedInstance, type World } from '../_test/fixtures.ts'
import { handleRequest } from './handler.ts'

const NOW = new Date('2025-06-19T10:00:00.000Z')
const TOKEN = 'dtma-bearer-token-of-this-toolbox'

const SYSTEM_STATUS = {
  cpu_load_percent: 3.5,
  load_average: [0.1, 0.2, 0.3],
  memory: { total_bytes: 2_000_000_000, free_bytes: 1_000_000_000, used_bytes: 1_000_000_000, active_bytes: 800_000_000 },
  disk: { mount: '/', total_bytes: 50_000_000_000, used_bytes: 10_000_000_000, free_bytes: 40_000_000_000 },
  uptime_seconds: 3600
}

/** What heartbeat-payload.ts makes of the agent's instances. */
function agentHeartbeat(instances: ToolInstance[]): HeartbeatBody {
  return {
    dtma_version: '0.2.0',
    system_status: SYSTEM_STATUS,
    tool_statuses: instances
      .filter((instance) => instance.account_tool_instance_id !== '')
      .map((instance) => ({
        account_tool_instance_id: instance.account_tool_instance_id,
        instance_name_on_toolbox: instance.instance_name_on_toolbox,
        status_on_toolbox: statusOnToolbox(instance.status),
        runtime: {
          container_id: instance.container_id,
          image: instance.image,
          created_at: new Date(instance.created * 1000).toISOString(),
          docker_status: instance.docker_status,
          ports: instance.ports
        }
      }))
  }
}

async function beat(world: World, body: unknown, authorization: string | null = `Bearer ${TOKEN}`, method = 'POST', now = NOW) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (authorization !== null) headers.authorization = authorization
  const response = await handleRequest(
    new Request('http://functions.test/functions/v1/heartbeat', { method, headers, ...(method === 'POST' && { body: JSON.stringify(body) }) }),
    { db: world.db, now: () => now }
  )
  return { status: response.status, text: await response.text() }
}

async function heartbeatWorld(status = 'awaiting_heartbeat') {
  const world = await createWorld()
  await world.standIn.update('account_tool_environments', world.toolboxId, { status, dtma_bearer_token: TOKEN })
  return world
}

/** Writes to the database: table requests other than reads, and function calls. */
const writes = (world: World) => world.standIn.requests.filter((r) => r.method !== 'GET')

Deno.test('a heartbeat is recorded on its toolbox and the instances of that toolbox only, in existing columns', async () => {
  const world = await heartbeatWorld()
  try {
    const running = await seedInstance(world, world.toolboxId, 'a')
    const stopped = await seedInstance(world, world.toolboxId, 'b')
    const otherToolbox = String((await world.standIn.seed('account_tool_environments', { user_id: crypto.randomUUID(), status: 'active', dtma_bearer_token: 'other' })).id)
    const foreign = await seedInstance(world, otherToolbox, 'c')
    const body = agentHeartbeat([
      toolInstance({ account_tool_instance_id: running, instance_name_on_toolbox: 'a', status: 'running', ports: [portMapping(8080, 30001)] }),
      toolInstance({ account_tool_instance_id: stopped, instance_name_on_toolbox: 'b', status: 'stopped' }),
      toolInstance({ account_tool_instance_id: foreign, instance_name_on_toolbox: 'c', status: 'error' }),
      toolInstance({ account_tool_instance_id: 'adopted-1', instance_name_on_toolbox: 'd', status: 'running' }),
      toolInstance({ account_tool_instance_id: '', instance_name_on_toolbox: 'e', status: 'running' })
    ])
    assert.equal(body.tool_statuses.length, 4)
    const reply = await beat(world, body)
    assert.equal(reply.status, 204)
    assert.equal(reply.text, '')

    const environment = (await world.standIn.row('account_tool_environments', world.toolboxId))!
    assert.equal(environment.status, 'active', 'the first heartbeat makes an awaiting toolbox active')
    assert.sameInstant(environment.last_heartbeat_at, NOW)
    assert.equal(environment.dtma_last_known_version, '0.2.0')
    assert.deepEqual(environment.dtma_health_details_json, SYSTEM_STATUS)
    const byId = (id: string) => world.standIn.row('account_tool_instances', id)
    assert.equal((await byId(running))?.status_on_toolbox, 'running')
    assert.sameInstant((await byId(running))?.last_heartbeat_from_dtma, NOW)
    assert.equal((await byId(stopped))?.status_on_toolbox, 'stopped')
    assert.equal((await byId(foreign))?.status_on_toolbox, 'deploying', "another toolbox's instance is not this agent's to report")
    assert.equal((await byId(foreign))?.last_heartbeat_from_dtma, null)

    // One call: the token, the body and the time to dtma_heartbeat; never runtime_details.
    assert.deepEqual(world.standIn.requests.map((r) => `${r.method} ${r.path}`), ['POST /rest/v1/rpc/dtma_heartbeat'])
    assert.deepEqual(Object.keys(writes(world)[0]!.body as object).sort(), ['p_at', 'p_heartbeat', 'p_token'])
    assert.ok(!JSON.stringify(writes(world)[0]!.body).includes('runtime_details'))

    // The same statuses a minute later: the toolbox row takes the time, the instance rows keep theirs.
    const later = new Date(NOW.getTime() + 60_000)
    assert.equal((await beat(world, body, `Bearer ${TOKEN}`, 'POST', later)).status, 204)
    assert.sameInstant((await world.standIn.row('account_tool_environments', world.toolboxId))!.last_heartbeat_at, later)
    assert.sameInstant((await byId(running))?.last_heartbeat_from_dtma, NOW, 'an unchanged status is not written again')
    assert.deepEqual(await world.standIn.statusHistory(running), ['deploying', 'running'])
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('only a toolbox coming up becomes active; any other status is left as it is', async () => {
  for (const [before, after] of [['provisioning', 'active'], ['active', 'active'], ['deprovisioning', 'deprovisioning'], ['unresponsive', 'unresponsive']]) {
    const world = await heartbeatWorld(before)
    try {
      assert.equal((await beat(world, agentHeartbeat([]))).status, 204)
      assert.equal((await world.standIn.row('account_tool_environments', world.toolboxId))!.status, after, before)
    } finally {
      await world.close()
    }
  }
})

Deno.test("the agent's certificate goes into its row; a heartbeat without one (an earlier agent) leaves the row's as it is", async () => {
  const world = await heartbeatWorld('active')
  try {
    const certificate = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
    const fingerprint = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':')
    const toolbox = async () => (await world.standIn.row('account_tool_environments', world.toolboxId))!
    assert.equal((await beat(world, { ...agentHeartbeat([]), tls_fingerprint_sha256: fingerprint, tls_certificate_pem: certificate })).status, 204)
    console.log(`after a heartbeat with a certificate: expected ${fingerprint}, seen ${(await toolbox()).dtma_tls_fingerprint_sha256}`)
    assert.equal((await toolbox()).dtma_tls_fingerprint_sha256, fingerprint)
    assert.equal((await toolbox()).dtma_tls_certificate_pem, certificate)
    assert.equal((await beat(world, agentHeartbeat([]))).status, 204)
    assert.equal((await toolbox()).dtma_tls_fingerprint_sha256, fingerprint, 'kept by a heartbeat without one')
    const refused = await beat(world, { ...agentHeartbeat([]), tls_fingerprint_sha256: 'not-a-fingerprint', tls_certificate_pem: certificate })
    assert.equal(refused.status, 400, 'a fingerprint that is not one is refused')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('a missing or unknown token is 401 and nothing is written', async () => {
  const world = await heartbeatWorld()
  try {
    for (const authorization of [null, 'Bearer not-the-token', `Basic ${TOKEN}`]) {
      const reply = await beat(world, agentHeartbeat([]), authorization)
      assert.equal(reply.status, 401, String(authorization))
      assert.equal(JSON.parse(reply.text).code, 'DTMA_UNAUTHORIZED')
      assert.ok(!reply.text.includes('not-the-token'))
    }
    assert.equal((await world.standIn.row('account_tool_environments', world.toolboxId))!.last_heartbeat_at, null, 'no heartbeat recorded')
    assert.equal((await world.standIn.row('account_tool_environments', world.toolboxId))!.status, 'awaiting_heartbeat')
  } finally {
    await world.close()
  }
})

Deno.test('a body the contract refuses is a 400 naming the field, and nothing is written', async () => {
  const world = await heartbeatWorld()
  try {
    const id = await seedInstance(world, world.toolboxId, 'a')
    const valid = agentHeartbeat([toolInstance({ account_tool_instance_id: id, instance_name_on_toolbox: 'a', status: 'running' })])
    const rawDockerState = structuredClone(valid) as unknown as { tool_statuses: Array<{ status_on_toolbox: string }> }
    rawDockerState.tool_statuses[0]!.status_on_toolbox = 'exited'
    const { dtma_version: _version, ...noVersion } = valid
    const cases: Array<[unknown, RegExp]> = [
      [rawDockerState, /\/tool_statuses\/0\/status_on_toolbox/],
      [noVersion, /dtma_version/],
      [{ ...valid, system_status: { cpu_load_percent: 'high' } }, /\/system_status/]
    ]
    for (const [body, field] of cases) {
      const reply = await beat(world, body)
      assert.equal(reply.status, 400)
      const answer = JSON.parse(reply.text)
      assert.equal(answer.success, false)
      assert.equal(answer.code, 'DTMA_BAD_REQUEST')
      assert.match(answer.error, field)
    }
    assert.equal((await beat(world, undefined, `Bearer ${TOKEN}`, 'GET')).status, 405)
    assert.deepEqual(writes(world), [], 'a refused body never reaches the database')
    assert.equal((await world.standIn.rows('account_tool_instances'))[0]!.status_on_toolbox, 'deploying')
  } finally {
    await world.close()
  }
})

Deno.test('the stand-in refuses a write of a column that does not exist, as PostgREST does', async () => {
  const world = await heartbeatWorld()
  try {
    const { error } = await world.db.from('account_tool_instances').update({ runtime_details: {} } as never).eq('id', crypto.randomUUID())
    assert.equal(error?.code, 'PGRST204')
    assert.match(String(error?.message), /'runtime_details' column/)
  } finally {
    await world.close()
  }
})
