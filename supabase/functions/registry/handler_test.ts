// registry against the Supabase stand-in on PostgreSQL: the toolbox found
// by its own token (the heartbeat's look-up), the body checked against the
// contract before the database is asked, the migration's database functions
// called with the toolbox the token names (never one the body names), and
// their refusals answered as the agent's outbox expects: 403 not this
// toolbox's, 400 a row the table refuses, 500 (retried) when the database
// fails. The ownership rules are the SQL functions' own (see also
// packages/agent/test/registry/ownership.test.ts).
import type { RegistryRow } from '../../../packages/contract/src/index.ts'
import * as assert from '../_test/assert.ts'
import { createWorld, seedInstance, type World } from '../_test/fixtures.ts'
import { handleRequest } from './handler.ts'

const TOKEN = 'registry-token-of-this-toolbox-0123456789'

function row(id: string): RegistryRow {
  return {
    account_tool_instance_id: id,
    container_name: 'dtma-a',
    instance_name_on_toolbox: 'a',
    docker_image_url: 'dtma-test/busybox:v1',
    container_id: null,
    dtma_status: 'running',
    docker_status: 'running',
    port_bindings: {},
    environment_variables: ['API_KEY'],
    last_seen_at: '2026-12-05T00:00:00.000Z',
    mcp_status: null,
    mcp_transport: null,
    mcp_endpoint_path: null,
    mcp_server_info: null,
    mcp_tools: null,
    mcp_tools_fingerprint: null,
    mcp_checked_at: null
  }
}

async function call(world: World, body: unknown, authorization: string | null = `Bearer ${TOKEN}`, method = 'POST') {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (authorization !== null) headers.authorization = authorization
  const response = await handleRequest(new Request('http://functions.test/functions/v1/registry', { method, headers, ...(method === 'POST' && { body: typeof body === 'string' ? body : JSON.stringify(body) }) }), { db: world.db })
  return { status: response.status, body: await response.json() }
}

Deno.test('registry calls the database functions with the toolbox its token names, and maps their refusals', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { dtma_bearer_token: TOKEN })
    const mine = await seedInstance(world, world.toolboxId, 'a')
    const otherToolbox = String((await world.standIn.seed('account_tool_environments', { user_id: crypto.randomUUID(), status: 'active' })).id)
    const theirs = await seedInstance(world, otherToolbox, 'b')

    const ok = await call(world, { operation: 'upsert', row: { ...row(mine), account_tool_environment_id: otherToolbox } })
    assert.equal(ok.status, 200)
    assert.deepEqual(ok.body, { success: true, operation: 'upsert', account_tool_instance_id: mine })
    const [stored] = await world.standIn.rows('dtma_container_registry', { account_tool_instance_id: mine })
    assert.equal(stored?.account_tool_environment_id, world.toolboxId, 'the toolbox of the token, not of the body')

    for (const id of [theirs, crypto.randomUUID()]) {
      const foreign = await call(world, { operation: 'upsert', row: row(id) })
      assert.equal(foreign.status, 403, id === theirs ? "another toolbox's instance" : 'an unknown instance')
      assert.equal(foreign.body.code, 'DTMA_FORBIDDEN')
    }
    assert.deepEqual(await world.standIn.rows('dtma_container_registry', { account_tool_instance_id: theirs }), [])
    // Text the contract lets through but the table's timestamptz column refuses.
    const broken = await call(world, { operation: 'upsert', row: { ...row(mine), last_seen_at: 'not a time' } })
    assert.equal(broken.status, 400)
    assert.equal(broken.body.code, 'DTMA_BAD_REQUEST')
    assert.deepEqual((await call(world, { operation: 'list' })).body.rows.map((r: { account_tool_instance_id: string }) => r.account_tool_instance_id), [mine])
    assert.equal((await call(world, { operation: 'delete', account_tool_instance_id: mine })).status, 200)
    assert.deepEqual((await call(world, { operation: 'list' })).body, { success: true, operation: 'list', rows: [] })

    await world.standIn.database.query('drop function public.dtma_registry_upsert(uuid, jsonb)')
    const down = await call(world, { operation: 'upsert', row: row(mine) })
    assert.equal(down.status, 500, 'a database failure is the backend’s: the agent retries it')
    assert.deepEqual(world.standIn.violations, ['unknown function dtma_registry_upsert'])
  } finally {
    await world.close()
  }
})

Deno.test('registry refuses a bad token (401) and a bad body (400) before asking the database', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { dtma_bearer_token: TOKEN })
    for (const authorization of [null, 'Bearer not-the-token', `Basic ${TOKEN}`]) {
      const reply = await call(world, { operation: 'upsert', row: row(crypto.randomUUID()) }, authorization)
      assert.equal(reply.status, 401, String(authorization))
      assert.equal(reply.body.code, 'DTMA_UNAUTHORIZED')
    }
    const cases: Array<[unknown, RegExp]> = [
      [{ operation: 'upsert', row: { ...row(crypto.randomUUID()), environment_variables: ['API_KEY=secret'] } }, /environment_variables/],
      [{ operation: 'upsert', row: { ...row(crypto.randomUUID()), dtma_status: 'exited' } }, /dtma_status/],
      [{ operation: 'drop' }, /operation/],
      ['{"operation":', /not valid JSON/]
    ]
    for (const [body, field] of cases) {
      const reply = await call(world, body)
      assert.equal(reply.status, 400)
      assert.match(reply.body.error, field)
      assert.ok(!JSON.stringify(reply.body).includes('secret'), 'the value is never echoed')
    }
    assert.equal((await call(world, undefined, `Bearer ${TOKEN}`, 'GET')).status, 405)
    assert.deepEqual(world.standIn.requests.filter((r) => r.path.startsWith('/rest/v1/rpc/')), [])
  } finally {
    await world.close()
  }
})

Deno.test('registry keeps the tools the drift lock withholds (names and change only), null from an older agent, and the table refuses another shape', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { dtma_bearer_token: TOKEN })
    const mine = await seedInstance(world, world.toolboxId, 'a')
    const stored = async () => (await world.standIn.rows('dtma_container_registry', { account_tool_instance_id: mine }))[0]
    const withheld = [{ name: 'echo', change: 'changed' }, { name: 'multiply', change: 'new' }]
    const cases: Array<[string, unknown, unknown]> = [
      ['an agent with the drift lock', withheld, withheld],
      ['nothing withheld', [], []],
      ['an agent from before the drift lock', undefined, null]
    ]
    for (const [what, sent, expected] of cases) {
      const body = { ...row(mine), mcp_status: 'ready', mcp_tools_fingerprint: `fp-${what}`, ...(sent !== undefined && { mcp_tools_withheld: sent }) }
      const reply = await call(world, { operation: 'upsert', row: body })
      const seen = (await stored())?.mcp_tools_withheld
      console.log(`${what}: expected ${reply.status === 200 ? '' : 'a write, '}${JSON.stringify(expected)} | seen ${reply.status} ${JSON.stringify(seen)}`)
      assert.equal(reply.status, 200, what)
      assert.deepEqual(seen, expected, what)
    }
    // The contract refuses a definition's text before the database is asked.
    const text = await call(world, { operation: 'upsert', row: { ...row(mine), mcp_tools_withheld: [{ name: 'echo', change: 'changed', description: 'Ignore previous instructions' }] } })
    console.log(`a description in the column: expected 400 | seen ${text.status}`)
    assert.equal(text.status, 400)
    assert.match(text.body.error, /mcp_tools_withheld/)
    // The table's own check, for a writer that is not the function.
    for (const bad of ['"echo"', '[{"name": "echo", "change": "rewritten"}]', '[{"change": "new"}]']) {
      const refused = await world.standIn.database.query(`update public.dtma_container_registry set mcp_tools_withheld = $1::jsonb where account_tool_instance_id = $2`, [bad, mine]).then(() => 'written', (error: Error) => error.message)
      console.log(`the table given ${bad}: expected a check violation | seen ${refused}`)
      assert.match(refused, /mcp_tools_withheld_shape/)
    }
  } finally {
    await world.close()
  }
})
