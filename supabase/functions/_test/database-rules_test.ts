// The database's rules hold for whoever calls, through the stand-in over
// supabase-js, with no line of the stand-in knowing them: row-level security
// and grants per role (a signed-in user, the anonymous key, the service role
// the functions hold), the SQL functions' ownership check (a toolbox writing
// another toolbox's registry row), enum types, foreign keys, unique, check
// and not-null constraints, column defaults and triggers. Each case tries to
// cross the rule and prints what it expected and what it saw; the last test
// reads the stand-in's source to show none of these rules is written there.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import * as assert from './assert.ts'
import { ANON_KEY, createWorld, seedInstance, type World } from './fixtures.ts'

const browser = (world: World, jwt: string): SupabaseClient =>
  createClient(world.standIn.url, ANON_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: { Authorization: `Bearer ${jwt}` } }
  })

/** What PostgREST answered: the status and error code, or the rows. */
async function seen(query: PromiseLike<{ status: number; error: { code: string } | null; data: unknown }>): Promise<string> {
  const { status, error, data } = await query
  return error ? `${status} ${error.code}` : `${status} ${JSON.stringify(data)}`
}

function expectCase(what: string, expected: string, actual: string): void {
  console.log(`${what}: expected ${expected}, seen ${actual}`)
  assert.equal(actual, expected, what)
}

function registryRow(instanceId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { account_tool_instance_id: instanceId, container_name: 'dtma-x', instance_name_on_toolbox: 'x', docker_image_url: 'dtma-test/busybox:v1', dtma_status: 'running', ...extra }
}

Deno.test('row-level security and grants: each role reaches only what the database lets it', async () => {
  const world = await createWorld()
  try {
    const mine = await seedInstance(world, world.toolboxId, 'mine')
    const user = browser(world, world.userJwt)
    const stranger = browser(world, world.otherUserJwt)
    const anonymous = browser(world, ANON_KEY)

    expectCase('another user updates my instance', '200 []', await seen(stranger.from('account_tool_instances').update({ status_on_toolbox: 'stopped' }).eq('id', mine).select('id')))
    assert.equal((await world.standIn.row('account_tool_instances', mine))?.status_on_toolbox, 'deploying', 'the row is as it was')
    expectCase('another user reads my toolbox', '200 []', await seen(stranger.from('account_tool_environments').select('id').eq('id', world.toolboxId)))
    expectCase('the owner reads it', `200 [{"id":"${world.toolboxId}"}]`, await seen(user.from('account_tool_environments').select('id').eq('id', world.toolboxId)))
    const catalog = String((await world.standIn.seed('tool_catalog', { name: 'planted' })).id)
    const planted = { account_tool_environment_id: world.toolboxId, tool_catalog_id: catalog, status_on_toolbox: 'running' }
    expectCase('another user plants an instance on my toolbox', '403 42501', await seen(stranger.from('account_tool_instances').insert(planted)))
    expectCase('a user changes a toolbox row (select only)', '403 42501', await seen(user.from('account_tool_environments').update({ status: 'active' }).eq('id', world.toolboxId)))
    expectCase('a user writes the registry directly', '403 42501', await seen(user.from('dtma_container_registry').insert(registryRow(mine))))
    expectCase('the anonymous key reads toolboxes', '401 42501', await seen(anonymous.from('account_tool_environments').select('id')))
    expectCase('a user calls the registry writer', '403 42501', await seen(user.rpc('dtma_registry_upsert', { p_account_tool_environment_id: world.toolboxId, p_row: registryRow(mine) })))
    assert.deepEqual(await world.standIn.rows('dtma_container_registry'), [], 'nothing written')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test("a toolbox writing another toolbox's registry row is refused by the SQL functions", async () => {
  const world = await createWorld()
  try {
    const mine = await seedInstance(world, world.toolboxId, 'mine')
    const otherToolbox = String((await world.standIn.seed('account_tool_environments', { user_id: crypto.randomUUID() })).id)
    const theirs = await seedInstance(world, otherToolbox, 'theirs')
    const write = (instanceId: string, extra?: Record<string, unknown>) =>
      world.db.rpc('dtma_registry_upsert', { p_account_tool_environment_id: world.toolboxId, p_row: registryRow(instanceId, extra) as never })

    expectCase("my toolbox writes another toolbox's row", '403 PT403', await seen(write(theirs)))
    expectCase('my toolbox writes an unknown instance', '403 PT403', await seen(write(crypto.randomUUID())))
    expectCase("my toolbox deletes another toolbox's row", '403 PT403', await seen(world.db.rpc('dtma_registry_delete', { p_account_tool_environment_id: world.toolboxId, p_account_tool_instance_id: theirs })))
    const secret = await seen(write(mine, { environment_variables: ['API_KEY=sk-secret'] }))
    expectCase('an env value (not just a key)', '400 PT400', secret)
    expectCase('my toolbox writes its own row', '204 null', await seen(write(mine)))
    expectCase('and again (an update)', '204 null', await seen(write(mine, { dtma_status: 'stopped' })))
    const [row] = await world.standIn.rows('dtma_container_registry')
    assert.equal(row?.account_tool_instance_id, mine)
    assert.equal(row?.account_tool_environment_id, world.toolboxId)
    assert.ok(Date.parse(String(row?.updated_at)) > Date.parse(String(row?.created_at)), `the trigger moved updated_at: ${row?.created_at} -> ${row?.updated_at}`)
    assert.deepEqual(row?.port_bindings, {}, "the column's default")
    assert.ok(!JSON.stringify(world.standIn.requests.map((r) => r.path)).includes('sk-secret'))
  } finally {
    await world.close()
  }
})

Deno.test('enums, foreign keys, unique, check and not-null constraints refuse as PostgREST answers them', async () => {
  const world = await createWorld()
  try {
    const mine = await seedInstance(world, world.toolboxId, 'mine')
    // The service role's client without the typed schema, so it can send what the types would stop.
    const service = world.db as unknown as SupabaseClient
    const instances = () => service.from('account_tool_instances')
    expectCase('a status outside the enum', '400 22P02', await seen(instances().update({ status_on_toolbox: 'exploded' }).eq('id', mine)))
    expectCase('an instance of no catalog tool', '409 23503', await seen(instances().insert({ account_tool_environment_id: world.toolboxId, tool_catalog_id: crypto.randomUUID(), status_on_toolbox: 'running' })))
    const oneOf = { account_tool_environment_id: world.toolboxId, tool_catalog_id: world.catalogId, status_on_toolbox: 'running' }
    expectCase('the first instance of a catalog tool on a toolbox', '201 null', await seen(instances().insert(oneOf)))
    expectCase('a second instance of it', '409 23505', await seen(instances().insert(oneOf)))
    expectCase('a transport the check refuses', '400 23514', await seen(instances().update({ mcp_transport_type: 'carrier-pigeon' }).eq('id', mine)))
    expectCase('a toolbox without its user', '400 23502', await seen(service.from('account_tool_environments').insert({ status: 'active' })))
    expectCase('an id that is no uuid', '400 22P02', await seen(instances().select('id').eq('id', 'not-a-uuid')))
    expectCase('a column that does not exist', '400 PGRST204', await seen(instances().update({ no_such_column: 1 }).eq('id', mine)))
    expectCase('one object asked for, none there', '406 PGRST116', await seen(instances().select('id').eq('id', crypto.randomUUID()).single()))
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 2, 'only the allowed insert was kept')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('the stand-in holds none of these rules: they are only in the fixture and the migrations', async () => {
  // Names and fragments of the schema's rules, and the two values refused above.
  const rules = [
    'own_instances', 'own_environments', 'owner_read', 'uq_account_env_tool', 'account_tool_installation_status_enum', 'account_tool_environment_status_enum',
    'pending_install', 'awaiting_heartbeat', 'dtma_owned_instance', 'env_keys_only', 'mcp_status_check', "'stdio'", 'bypassrls', 'on delete cascade',
    'enable row level security', 'jsonb_path_exists'
  ]
  const refused = ['exploded', 'carrier-pigeon']
  const dir = new URL('./', import.meta.url)
  const files = [
    'supabase-stand-in.ts', 'postgrest/database.ts', 'postgrest/engine.ts', 'postgrest/errors.ts', 'postgrest/sql.ts', 'postgrest/wire.ts',
    '../../../packages/agent/test/helpers/postgrest-stand-in.ts'
  ]
  const schema = (await Promise.all([new URL('../../tests/fixture.sql', dir), ...(await migrationUrls())].map((url) => Deno.readTextFile(url)))).join('\n').toLowerCase()
  for (const file of files) {
    const source = (await Deno.readTextFile(new URL(file, dir))).toLowerCase()
    const copied = [...rules, ...refused].filter((rule) => source.includes(rule))
    console.log(`${file}: expected no rule of the schema, seen ${copied.length === 0 ? 'none' : copied.join(', ')}`)
    assert.deepEqual(copied, [], file)
  }
  assert.deepEqual(rules.filter((rule) => !schema.includes(rule)), [], 'each rule looked for is one the schema holds')
})

async function migrationUrls(): Promise<URL[]> {
  const dir = new URL('../../migrations/', import.meta.url)
  const urls: URL[] = []
  for await (const entry of Deno.readDir(dir)) if (entry.name.endsWith('.sql')) urls.push(new URL(entry.name, dir))
  return urls
}
