// The registry function's boundary as a compromised toolbox would try it:
// toolbox A, holding only its own token, calls the real `registry` edge
// function (Deno, in front of the PostgREST stand-in on real PostgreSQL) to
// write, delete and read toolbox B's rows, rows of unknown instances, bad
// rows, and with bad tokens; then the database functions themselves, as the
// roles a toolbox could reach. Each case prints expected vs seen.
import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { registryBackend, setToolboxToken } from '../helpers/edge-function.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'

const tokenA = `toolbox-a-${randomBytes(16).toString('hex')}`
const tokenB = `toolbox-b-${randomBytes(16).toString('hex')}`

const row = (id: string, extra: Record<string, unknown> = {}) => ({
  account_tool_instance_id: id,
  container_name: `dtma-${id.slice(0, 8)}`,
  instance_name_on_toolbox: `Tool ${id.slice(0, 8)}`,
  docker_image_url: 'dtma-test/busybox:v1',
  container_id: null,
  dtma_status: 'running',
  docker_status: 'running',
  port_bindings: {},
  environment_variables: ['API_KEY'],
  last_seen_at: new Date().toISOString(),
  mcp_status: null,
  mcp_transport: null,
  mcp_endpoint_path: null,
  mcp_server_info: null,
  mcp_tools: null,
  mcp_tools_fingerprint: null,
  mcp_checked_at: null,
  ...extra
})

t.test('toolbox A cannot write, delete or read toolbox B’s registry rows through the registry function', async (t) => {
  const db = await createTestDatabase(t)
  const [a1, a2, b1] = [randomUUID(), randomUUID(), randomUUID()]
  const { environmentId: toolboxA } = await seedInstances(db.pool, randomUUID(), [a1, a2])
  const { environmentId: toolboxB } = await seedInstances(db.pool, randomUUID(), [b1])
  await setToolboxToken(db.pool, toolboxA, tokenA)
  await setToolboxToken(db.pool, toolboxB, tokenB)
  const { rest, fn, serviceRoleKey: key } = await registryBackend(t, db.pool)

  const call = async (token: string | undefined, body: unknown) => {
    const response = await fetch(`${fn.url}/functions/v1/registry`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token !== undefined && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body)
    })
    return { status: response.status, body: (await response.json()) as { success: boolean; code?: string; error?: string; rows?: Array<{ account_tool_instance_id: string }> } }
  }
  const rowOf = async (id: string) => (await db.pool.query('select * from dtma_container_registry where account_tool_instance_id = $1', [id])).rows[0]

  t.equal((await call(tokenB, { operation: 'upsert', row: row(b1) })).status, 200, 'B writes its own row')
  const bBefore = await rowOf(b1)

  const cases: Array<{ name: string; token: string | undefined; body: unknown; status: number; code?: string }> = [
    { name: 'A upserts its own row', token: tokenA, body: { operation: 'upsert', row: row(a1) }, status: 200 },
    { name: 'A upserts its own row claiming B as its toolbox', token: tokenA, body: { operation: 'upsert', row: row(a2, { account_tool_environment_id: toolboxB }) }, status: 200 },
    { name: 'A upserts B’s row', token: tokenA, body: { operation: 'upsert', row: row(b1, { dtma_status: 'error' }) }, status: 403, code: 'DTMA_FORBIDDEN' },
    { name: 'A deletes B’s row', token: tokenA, body: { operation: 'delete', account_tool_instance_id: b1 }, status: 403, code: 'DTMA_FORBIDDEN' },
    { name: 'A upserts a row of an unknown instance', token: tokenA, body: { operation: 'upsert', row: row(randomUUID()) }, status: 403, code: 'DTMA_FORBIDDEN' },
    { name: 'A upserts a row with an env value', token: tokenA, body: { operation: 'upsert', row: row(a1, { environment_variables: ['API_KEY=secret'] }) }, status: 400, code: 'DTMA_BAD_REQUEST' },
    { name: 'A upserts a raw Docker state', token: tokenA, body: { operation: 'upsert', row: row(a1, { dtma_status: 'exited' }) }, status: 400, code: 'DTMA_BAD_REQUEST' },
    { name: 'A sends a row without its instance id', token: tokenA, body: { operation: 'upsert', row: { container_name: 'x' } }, status: 400, code: 'DTMA_BAD_REQUEST' },
    { name: 'an unknown token upserts A’s row', token: `forged-${randomBytes(16).toString('hex')}`, body: { operation: 'upsert', row: row(a1) }, status: 401, code: 'DTMA_UNAUTHORIZED' },
    { name: 'no token upserts A’s row', token: undefined, body: { operation: 'upsert', row: row(a1) }, status: 401, code: 'DTMA_UNAUTHORIZED' },
    { name: 'the service-role key as a toolbox token', token: key, body: { operation: 'delete', account_tool_instance_id: b1 }, status: 401, code: 'DTMA_UNAUTHORIZED' }
  ]
  for (const c of cases) {
    const seen = await call(c.token, c.body)
    t.comment(`${c.name}: expected ${c.status}${c.code ? ` ${c.code}` : ''}, seen ${seen.status} ${seen.body.code ?? ''}${seen.body.error ? ` (${seen.body.error})` : ''}`)
    t.equal(seen.status, c.status, c.name)
    if (c.code !== undefined) t.match(seen.body, { success: false, code: c.code, error: String }, `${c.name}: a JSON error`)
    t.notOk(JSON.stringify(seen.body).includes(tokenA) || JSON.stringify(seen.body).includes(key), `${c.name}: no secret in the answer`)
  }

  t.same(await rowOf(b1), bBefore, 'B’s row is exactly as B wrote it')
  t.equal((await rowOf(a2)).account_tool_environment_id, toolboxA, 'a row is filed under the toolbox that wrote it, whatever it claims')
  t.equal((await rowOf(a1)).dtma_status, 'running', 'refused writes changed nothing')

  const listA = await call(tokenA, { operation: 'list' })
  const listB = await call(tokenB, { operation: 'list' })
  const ids = (list: typeof listA) => (list.body.rows ?? []).map((r) => r.account_tool_instance_id).sort()
  t.comment(`A reads: expected [${[a1, a2].sort().join(', ')}], seen [${ids(listA).join(', ')}]`)
  t.same(ids(listA), [a1, a2].sort(), 'A reads its own rows and not B’s')
  t.same(ids(listB), [b1], 'B reads only its row')

  const deleted = await call(tokenA, { operation: 'delete', account_tool_instance_id: a2 })
  t.equal(deleted.status, 200, 'A deletes its own row')
  t.equal(await rowOf(a2), undefined)
  t.equal((await call(tokenA, { operation: 'delete', account_tool_instance_id: randomUUID() })).status, 200, 'deleting the row of an instance gone already is done')
  t.ok(await rowOf(b1), 'B’s row survived every attempt')

  const rpcs = rest.requests.filter((request) => request.path.startsWith('/rest/v1/rpc/'))
  t.ok(rpcs.length > 0, 'the function wrote through database functions')
  t.ok(rpcs.every((request) => request.method === 'POST' && request.apikey === key), 'as supabase-js calls them: POST with the service-role key, in the backend')
  t.comment(`rpc request: ${rpcs[0]?.method} ${rpcs[0]?.path} body keys: ${Object.keys(rpcs[0]?.body as object).join(', ')}`)
})

t.test('the database functions: ownership in SQL, and out of reach of every role but the service role', async (t) => {
  const db = await createTestDatabase(t)
  const [a1, b1] = [randomUUID(), randomUUID()]
  const { environmentId: toolboxA } = await seedInstances(db.pool, randomUUID(), [a1])
  await seedInstances(db.pool, randomUUID(), [b1])
  await db.asRole('service_role', {}, async (client) => {
    await client.query('select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(a1))])
    t.equal((await client.query('select count(*)::int as n from dtma_registry_rows($1)', [toolboxA])).rows[0].n, 1, 'the service role writes A’s row for A')
    await client.query('select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(a1, { egress: { allow: ['10.1.2.0/24:5432'] } }))])
    const egress = (await client.query('select egress from dtma_container_registry where account_tool_instance_id = $1', [a1])).rows[0]?.egress
    t.comment(`egress mirrored: expected {"allow":["10.1.2.0/24:5432"]}, seen ${JSON.stringify(egress)}`)
    t.same(egress, { allow: ['10.1.2.0/24:5432'] }, 'the row carries what the tool may reach')
  })
  const matrix: Array<[string, string, unknown[], string]> = [
    ['service_role: A writes B’s row', 'select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(b1))], 'PT403'],
    ['service_role: A deletes B’s row', 'select dtma_registry_delete($1, $2)', [toolboxA, b1], 'PT403'],
    ['service_role: A writes an unknown instance', 'select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(randomUUID()))], 'PT403'],
    ['service_role: a row with an env value', 'select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(a1, { environment_variables: ['K=v'] }))], 'PT400'],
    ['service_role: a row with a bad id', 'select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row('not-a-uuid'))], 'PT400'],
    ['service_role: a row with an egress of another shape', 'select dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(a1, { egress: { allow: 'everything' } }))], 'PT400']
  ]
  for (const [name, sql, values, code] of matrix) {
    const seen = await db.asRole('service_role', {}, (client) => client.query(sql, values).then(() => 'ok', (error: { code: string }) => error.code))
    t.comment(`${name}: expected ${code}, seen ${seen}`)
    t.equal(seen, code, name)
  }
  for (const role of ['anon', 'authenticated'] as const) {
    for (const [fn, args] of [['dtma_registry_upsert($1, $2)', [toolboxA, JSON.stringify(row(a1))]], ['dtma_registry_rows($1)', [toolboxA]], ['dtma_redeem_enrolment($1)', ['x']], ['dtma_issue_enrolment($1)', [toolboxA]]] as const) {
      const seen = await db.asRole(role, { sub: randomUUID() }, (client) => client.query(`select ${fn}`, [...args]).then(() => 'ok', (error: { code: string }) => error.code))
      t.comment(`${role} calls ${fn.split('(')[0]}: expected 42501, seen ${seen}`)
      t.equal(seen, '42501', `${role} cannot call ${fn}`)
    }
  }
})
