// What lets one PostgreSQL carry a large fleet
// (supabase/migrations/20261205140000_dtma_fleet_scale.sql), on real
// PostgreSQL: the real heartbeat function (Deno, in front of the PostgREST
// stand-in) writes one row for a heartbeat that changes nothing and one more
// per changed status, checked by the rows' versions (xmin); its token is
// checked in SQL as an attacker would try it; an identical registry row
// makes no new row version; the lookups use their indexes at fleet size;
// the fleet-health view counts right and is the service role's alone.
import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { setToolboxToken, startEdgeFunction } from '../helpers/edge-function.ts'
import { PostgrestStandIn } from '../helpers/postgrest-stand-in.ts'
import { createTestDatabase, seedInstances, type TestDatabase } from '../helpers/postgres.ts'

const SYSTEM = { cpu_load_percent: 1, load_average: [0.1], memory: { total_bytes: 2, free_bytes: 1, used_bytes: 1, active_bytes: 1 }, disk: { mount: '/', total_bytes: 2, used_bytes: 1, free_bytes: 1 }, uptime_seconds: 5 }

/** The heartbeat body an agent builds for these instances (heartbeat-payload.ts). */
const heartbeat = (statuses: Array<[string, string]>) => ({
  dtma_version: '0.4.0',
  system_status: SYSTEM,
  tool_statuses: statuses.map(([id, status], i) => ({
    account_tool_instance_id: id,
    instance_name_on_toolbox: `tool-${i}`,
    status_on_toolbox: status,
    runtime: { container_id: 'c'.repeat(64), image: 'dtma-test/busybox:v1', created_at: new Date().toISOString(), docker_status: status === 'running' ? 'running' : 'exited', ports: [] },
    mcp: null
  }))
})

async function heartbeatFunction(t: Parameters<typeof createTestDatabase>[0], db: TestDatabase) {
  const serviceRoleKey = `service-role-${randomBytes(8).toString('hex')}`
  const rest = new PostgrestStandIn(db.pool, serviceRoleKey)
  await rest.up()
  t.teardown(() => rest.down())
  const fn = await startEdgeFunction(t, 'heartbeat', { SUPABASE_URL: rest.url, SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey })
  return async (token: string, body: unknown) => {
    const response = await fetch(`${fn.url}/functions/v1/heartbeat`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: response.status, text: await response.text() }
  }
}

/** Row versions: a row that was written has a new xmin. */
async function versions(db: TestDatabase, table: string, ids: string[]): Promise<Map<string, string>> {
  const result = await db.pool.query<{ id: string; xmin: string }>(`select id, xmin::text from ${table} where id = any($1::uuid[])`, [ids])
  return new Map(result.rows.map((row) => [row.id, row.xmin]))
}

const written = (before: Map<string, string>, after: Map<string, string>) => [...after].filter(([id, xmin]) => before.get(id) !== xmin).map(([id]) => id)

t.test('a heartbeat that changes nothing writes one row; a changed status writes its row too', async (t) => {
  const db = await createTestDatabase(t)
  const ids = Array.from({ length: 20 }, () => randomUUID())
  const { environmentId } = await seedInstances(db.pool, randomUUID(), ids)
  await db.pool.query(`update account_tool_instances set status_on_toolbox = 'running'`)
  const token = `tb-${randomBytes(16).toString('hex')}`
  await setToolboxToken(db.pool, environmentId, token)
  const beat = await heartbeatFunction(t, db)
  const all = [environmentId, ...ids]
  const rows = async () => new Map([...(await versions(db, 'account_tool_environments', [environmentId])), ...(await versions(db, 'account_tool_instances', ids))])

  let before = await rows()
  t.equal((await beat(token, heartbeat(ids.map((id) => [id, 'running'])))).status, 204)
  let seen = written(before, await rows())
  t.comment(`20 statuses, none changed: expected 1 row written (the toolbox), seen ${seen.length}`)
  t.same(seen, [environmentId])

  before = await rows()
  t.equal((await beat(token, heartbeat(ids.map((id, i) => [id, i < 3 ? 'stopped' : 'running'])))).status, 204)
  seen = written(before, await rows())
  t.comment(`20 statuses, 3 changed: expected 4 rows written, seen ${seen.length}`)
  t.same(seen.sort(), [environmentId, ...ids.slice(0, 3)].sort())
  const stored = await db.pool.query(`select status_on_toolbox, last_heartbeat_from_dtma is not null as stamped from account_tool_instances where id = any($1::uuid[]) order by status_on_toolbox::text`, [ids.slice(0, 4)])
  t.same(stored.rows, [{ status_on_toolbox: 'running', stamped: false }, ...Array(3).fill({ status_on_toolbox: 'stopped', stamped: true })], 'the changed ones carry the heartbeat that brought their status')
  const toolbox = await db.pool.query(`select status, dtma_last_known_version, dtma_health_details_json from account_tool_environments where id = $1`, [environmentId])
  t.match(toolbox.rows[0], { status: 'active', dtma_last_known_version: '0.4.0', dtma_health_details_json: SYSTEM })
  t.equal(all.length, 21)
})

t.test('the token is checked in SQL: unknown or shared tokens are 401, another toolbox’s instances are untouched', async (t) => {
  const db = await createTestDatabase(t)
  const [a1, b1] = [randomUUID(), randomUUID()]
  const { environmentId: a } = await seedInstances(db.pool, randomUUID(), [a1])
  const { environmentId: b } = await seedInstances(db.pool, randomUUID(), [b1])
  const tokenA = `tb-a-${randomBytes(16).toString('hex')}`
  await setToolboxToken(db.pool, a, tokenA)
  await setToolboxToken(db.pool, b, `tb-b-${randomBytes(16).toString('hex')}`)
  const beat = await heartbeatFunction(t, db)

  const cases: Array<[string, string, unknown, number]> = [
    ['unknown token', `tb-x-${randomBytes(16).toString('hex')}`, heartbeat([]), 401],
    ["A reports B's instance", tokenA, heartbeat([[b1, 'error']]), 204],
    ['a status outside the enum', tokenA, { ...heartbeat([[a1, 'running']]), tool_statuses: [{ ...heartbeat([[a1, 'running']]).tool_statuses[0], status_on_toolbox: 'exploded' }] }, 400]
  ]
  for (const [name, token, body, expected] of cases) {
    const reply = await beat(token, body)
    t.comment(`${name}: expected ${expected}, seen ${reply.status}`)
    t.equal(reply.status, expected, name)
    t.notOk(reply.text.includes(token), `${name}: the token is not echoed`)
  }
  const foreign = await db.pool.query(`select status_on_toolbox from account_tool_instances where id = $1`, [b1])
  t.comment(`B's instance after A reported it 'error': expected deploying, seen ${foreign.rows[0].status_on_toolbox}`)
  t.equal(foreign.rows[0].status_on_toolbox, 'deploying')

  await setToolboxToken(db.pool, b, tokenA)
  const before = await versions(db, 'account_tool_environments', [a, b])
  const shared = await beat(tokenA, heartbeat([]))
  const after = await versions(db, 'account_tool_environments', [a, b])
  t.comment(`a token two toolboxes share: expected 401 and neither written, seen ${shared.status}, ${written(before, after).length} written`)
  t.equal(shared.status, 401)
  t.same(written(before, after), [], 'no toolbox took the heartbeat')
})

t.test('an identical registry row (but its time stamps) makes no new row version', async (t) => {
  const db = await createTestDatabase(t)
  const id = randomUUID()
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [id])
  const row = (extra: Record<string, unknown>) => ({
    account_tool_instance_id: id, container_name: 'dtma-a', instance_name_on_toolbox: 'a', docker_image_url: 'dtma-test/busybox:v1', container_id: 'c1',
    dtma_status: 'running', docker_status: 'running', port_bindings: {}, environment_variables: ['API_KEY'], last_seen_at: new Date().toISOString(),
    mcp_status: 'ready', mcp_transport: 'stdio', mcp_endpoint_path: '/tools/a/mcp', mcp_server_info: null, mcp_tools: null, mcp_tools_fingerprint: 'f1', mcp_checked_at: new Date().toISOString(),
    ...extra
  })
  const upsert = (r: unknown) => db.asRole('service_role', {}, async (client) => {
    await client.query('select public.dtma_registry_upsert($1, $2::jsonb)', [environmentId, JSON.stringify(r)])
    await client.query('commit')
    await client.query('begin')
  })
  const xmin = async () => (await db.pool.query(`select xmin::text, mcp_tools_fingerprint from dtma_container_registry where account_tool_instance_id = $1`, [id])).rows[0]
  await upsert(row({}))
  const first = await xmin()
  await upsert(row({ last_seen_at: new Date(Date.now() + 60_000).toISOString(), mcp_checked_at: new Date(Date.now() + 60_000).toISOString() }))
  const same = await xmin()
  await upsert(row({ mcp_tools_fingerprint: 'f2' }))
  const changed = await xmin()
  t.comment(`same row, new time stamps: expected xmin ${first.xmin} kept, seen ${same.xmin}; new fingerprint: expected a new xmin and f2, seen ${changed.xmin} ${changed.mcp_tools_fingerprint}`)
  t.equal(same.xmin, first.xmin)
  t.not(changed.xmin, first.xmin)
  t.equal(changed.mcp_tools_fingerprint, 'f2')
})

t.test('at fleet size the token and toolbox lookups use their indexes', async (t) => {
  const db = await createTestDatabase(t)
  await db.pool.query(`insert into tool_catalog (name) values ('a'), ('b')`)
  await db.pool.query(`insert into account_tool_environments (user_id, status, dtma_bearer_token) select gen_random_uuid(), 'active', md5(i::text) from generate_series(1, 5000) i`)
  await db.pool.query(`insert into account_tool_instances (account_tool_environment_id, tool_catalog_id) select e.id, c.id from account_tool_environments e cross join tool_catalog c`)
  await db.pool.query('analyze')
  const plans: Array<[string, string, string]> = [
    ['token', `select id, status from account_tool_environments where dtma_bearer_token = md5('77')`, 'account_tool_environments_dtma_bearer_token_idx'],
    ['instances of a toolbox', `select id from account_tool_instances where account_tool_environment_id = (select id from account_tool_environments limit 1)`, 'account_tool_instances_environment_idx']
  ]
  for (const [name, sql, index] of plans) {
    const plan = JSON.stringify((await db.pool.query(`explain (format json) ${sql}`)).rows[0])
    const used = /"IndexName":"([^"]+)"/.exec(plan.replace(/\s/g, ''))?.[1]
    t.comment(`${name}: expected ${index}, seen ${used ?? 'a sequential scan'}`)
    t.equal(used, index, name)
  }
})

t.test('dtma_fleet_health counts toolboxes and instances, for the service role only', async (t) => {
  const db = await createTestDatabase(t)
  const ids = [randomUUID(), randomUUID()]
  const { environmentId } = await seedInstances(db.pool, randomUUID(), ids)
  await db.pool.query(`update account_tool_environments set last_heartbeat_at = now() - interval '5 minutes' where id = $1`, [environmentId])
  await db.pool.query(`insert into account_tool_environments (user_id, status) values (gen_random_uuid(), 'unresponsive')`)
  for (const [i, id] of ids.entries()) {
    await db.pool.query(`insert into dtma_container_registry (account_tool_instance_id, account_tool_environment_id, container_name, instance_name_on_toolbox, docker_image_url, dtma_status, mcp_status) values ($1, $2, 'c', 'n', 'i', 'running', $3)`, [id, environmentId, i === 0 ? 'ready' : null])
  }
  const health = await db.asRole('service_role', {}, async (client) => (await client.query(`select measure, key, count::int from dtma_fleet_health order by measure, key`)).rows)
  t.comment(`seen: ${JSON.stringify(health)}`)
  t.same(health, [
    { measure: 'active_toolboxes_by_heartbeat_age', key: '2 to 10 min', count: 1 },
    { measure: 'instances_by_dtma_status', key: 'running', count: 2 },
    { measure: 'instances_by_mcp_status', key: 'not an MCP server', count: 1 },
    { measure: 'instances_by_mcp_status', key: 'ready', count: 1 },
    { measure: 'toolboxes_by_status', key: 'active', count: 1 },
    { measure: 'toolboxes_by_status', key: 'unresponsive', count: 1 }
  ])
  for (const role of ['anon', 'authenticated'] as const) {
    const refused = await db.asRole(role, { sub: randomUUID() }, (client) => client.query('select * from dtma_fleet_health').then(() => 'read', (error: { code?: string }) => error.code))
    t.comment(`${role} reads the fleet view: expected 42501, seen ${refused}`)
    t.equal(refused, '42501', role)
  }
})
