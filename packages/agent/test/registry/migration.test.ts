// The dtma_container_registry migration on a real PostgreSQL: applying it
// twice changes nothing, its constraints hold, the updated_at trigger runs,
// and RLS lets the service role do everything while a signed-in user reads
// only rows of instances on environments they own.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { createTestDatabase, migrations, seedInstances } from '../helpers/postgres.ts'

const row = (accountToolInstanceId: string, extra: Record<string, unknown> = {}) => ({
  account_tool_instance_id: accountToolInstanceId,
  container_name: 'dtma-ctx7-1a2b3c',
  instance_name_on_toolbox: 'Context7 MCP Server-1',
  docker_image_url: 'dtma-test/busybox:v1',
  dtma_status: 'running',
  ...extra
})

async function insert(client: { query: (sql: string, values: unknown[]) => Promise<unknown> }, values: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(values)
  const json = Object.fromEntries(Object.entries(values).map(([key, value]) => [key, typeof value === 'object' && value !== null ? JSON.stringify(value) : value]))
  await client.query(
    `insert into dtma_container_registry (${columns.join(', ')}) values (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
    Object.values(json)
  )
}

t.test('the migration applies twice without change', async (t) => {
  const db = await createTestDatabase(t)
  const describe = async () =>
    (
      await db.pool.query(`
        select
          (select json_agg(json_build_object('c', column_name, 't', data_type, 'n', is_nullable, 'd', column_default) order by column_name)
             from information_schema.columns where table_name = 'dtma_container_registry') as columns,
          (select json_agg(conname order by conname) from pg_constraint where conrelid = 'dtma_container_registry'::regclass) as constraints,
          (select json_agg(indexname order by indexname) from pg_indexes where tablename = 'dtma_container_registry') as indexes,
          (select json_agg(polname order by polname) from pg_policy where polrelid = 'dtma_container_registry'::regclass) as policies,
          (select json_agg(tgname order by tgname) from pg_trigger where tgrelid = 'dtma_container_registry'::regclass and not tgisinternal) as triggers`)
    ).rows[0]
  const before = await describe()
  const id = randomUUID()
  await seedInstances(db.pool, randomUUID(), [id])
  await insert(db.pool, row(id))
  for (const migration of migrations()) await db.pool.query(migration.sql)
  t.same(await describe(), before, 'schema unchanged by a second run')
  t.equal((await db.pool.query('select count(*)::int as n from dtma_container_registry')).rows[0].n, 1, 'rows survive a second run')
  t.match(before, {
    constraints: [
      'dtma_container_registry_account_tool_instance_id_fkey',
      'dtma_container_registry_egress_shape',
      'dtma_container_registry_env_keys_only',
      'dtma_container_registry_instance_unique',
      'dtma_container_registry_mcp_status_check',
      'dtma_container_registry_mcp_tools_array',
      'dtma_container_registry_mcp_tools_withheld_shape',
      'dtma_container_registry_mcp_transport_check',
      'dtma_container_registry_pkey',
      'dtma_container_registry_port_bindings_object',
      'dtma_container_registry_status_check'
    ],
    policies: ['dtma_container_registry_owner_read', 'dtma_container_registry_service_role_all'],
    triggers: ['dtma_container_registry_updated_at']
  })
  t.ok((before.indexes as string[]).includes('dtma_container_registry_environment_idx'))
})

t.test('constraints: status, one row per instance, keys only, foreign key with cascade, updated_at', async (t) => {
  const db = await createTestDatabase(t)
  const [a, b] = [randomUUID(), randomUUID()]
  await seedInstances(db.pool, randomUUID(), [a, b])
  await insert(db.pool, row(a, { environment_variables: ['API_KEY', 'MODE'], port_bindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '30001' }] } }))

  await t.rejects(insert(db.pool, row(b, { dtma_status: 'exited' })), { code: '23514', constraint: 'dtma_container_registry_status_check' }, 'a raw Docker state is refused')
  await t.rejects(insert(db.pool, row(a)), { code: '23505' }, 'a second row for one instance is refused')
  await t.rejects(insert(db.pool, row(b, { environment_variables: ['API_KEY=secret'] })), { code: '23514', constraint: 'dtma_container_registry_env_keys_only' }, 'an env value is refused')
  await t.rejects(insert(db.pool, row(b, { environment_variables: { API_KEY: 'x' } })), { code: '23514' }, 'env as an object is refused')
  await t.rejects(insert(db.pool, row(b, { port_bindings: [] })), { code: '23514' }, 'port bindings must be an object')
  await t.rejects(insert(db.pool, row(randomUUID())), { code: '23503' }, 'an unknown instance is refused')
  await t.rejects(insert(db.pool, { ...row(b), container_name: null }), { code: '23502' }, 'container_name is required')
  for (const status of ['pending', 'starting', 'stopping', 'stopped', 'error']) {
    await db.pool.query(`update dtma_container_registry set dtma_status = $1 where account_tool_instance_id = $2`, [status, a])
  }

  const first = (await db.pool.query(`select updated_at, created_at from dtma_container_registry where account_tool_instance_id = $1`, [a])).rows[0]
  await new Promise((resolve) => setTimeout(resolve, 20))
  await db.pool.query(`update dtma_container_registry set docker_status = 'exited' where account_tool_instance_id = $1`, [a])
  const second = (await db.pool.query(`select updated_at, created_at from dtma_container_registry where account_tool_instance_id = $1`, [a])).rows[0]
  t.ok(second.updated_at > first.updated_at, 'the trigger moves updated_at')
  t.same(second.created_at, first.created_at, 'created_at stays')

  await db.pool.query('delete from account_tool_instances where id = $1', [a])
  t.equal((await db.pool.query('select count(*)::int as n from dtma_container_registry')).rows[0].n, 0, 'removing the instance removes its row')
})

t.test('RLS: the service role does everything, a user reads only their own rows', async (t) => {
  const db = await createTestDatabase(t)
  const [alice, bob] = [randomUUID(), randomUUID()]
  const [aliceInstance, bobInstance, spare] = [randomUUID(), randomUUID(), randomUUID()]
  await seedInstances(db.pool, alice, [aliceInstance, spare])
  await seedInstances(db.pool, bob, [bobInstance])

  await db.pool.query('begin')
  await db.pool.query('set local role service_role')
  await insert(db.pool, row(aliceInstance))
  await insert(db.pool, row(bobInstance))
  await db.pool.query(`update dtma_container_registry set dtma_status = 'stopped' where account_tool_instance_id = $1`, [bobInstance])
  await db.pool.query('commit')
  await db.asRole('service_role', {}, async (client) => {
    t.equal((await client.query('select count(*)::int as n from dtma_container_registry')).rows[0].n, 2, 'service role reads all')
    await client.query('delete from dtma_container_registry where account_tool_instance_id = $1', [bobInstance])
    t.equal((await client.query('select count(*)::int as n from dtma_container_registry')).rows[0].n, 1, 'service role deletes')
  })

  const visible = (user: string) =>
    db.asRole('authenticated', { sub: user }, async (client) => (await client.query('select account_tool_instance_id from dtma_container_registry')).rows.map((r) => r.account_tool_instance_id))
  t.same(await visible(alice), [aliceInstance], 'alice reads her row')
  t.same(await visible(bob), [bobInstance], 'bob reads his row, not alice’s')
  t.same(await visible(randomUUID()), [], 'a stranger reads nothing')

  await db.asRole('authenticated', { sub: alice }, async (client) => {
    await t.rejects(insert(client, row(spare)), { code: '42501' }, 'a user cannot insert')
  })
  await db.asRole('authenticated', { sub: alice }, async (client) => {
    const updated = await client.query(`update dtma_container_registry set dtma_status = 'error' where account_tool_instance_id = $1`, [aliceInstance]).catch((error: { code: string }) => error)
    t.match(updated, { code: '42501' }, 'a user cannot update, even their own row')
  })
  await db.asRole('anon', {}, async (client) => {
    await t.rejects(client.query('select * from dtma_container_registry'), { code: '42501' }, 'anon reads nothing')
  })
})
