// The registry writer end to end: a real agent on real Docker writes through
// supabase-js to a PostgREST stand-in that records each request and applies
// it to a real PostgreSQL with the migration. Checks the exact requests
// (upsert with on_conflict and merge-duplicates, delete by eq filter, the
// service-role key in apikey and Authorization), the rows they leave, that
// env values and the key never leave the agent, and that a refused row is
// dropped without blocking the others.
import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { startTestAgent } from '../helpers/agent.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'
import { PostgrestStandIn } from '../helpers/postgrest-stand-in.ts'
import { freePort, uniqueName } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const SECRET = `env-secret-${randomBytes(6).toString('hex')}`

t.test('deploy, stop and remove reach dtma_container_registry as the exact PostgREST requests', async (t) => {
  const db = await createTestDatabase(t)
  const [instanceId, strangerId] = [randomUUID(), randomUUID()]
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [instanceId])
  const key = `service-role-${randomBytes(8).toString('hex')}`
  const rest = new PostgrestStandIn(db.pool, key)
  await rest.up()
  t.teardown(() => rest.down())
  const agent = await startTestAgent(t, { env: { SUPABASE_URL: rest.url, SUPABASE_SERVICE_ROLE_KEY: key, ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId } })
  const rowOf = async (id: string) => (await db.pool.query('select * from dtma_container_registry where account_tool_instance_id = $1', [id])).rows[0]

  // A refused row (its instance is unknown to the backend) first: it must not block the real one.
  const stranger = uniqueName('Stranger')
  const strangerBody = { ...agent.deployBody(stranger), accountToolInstanceId: strangerId }
  t.equal((await agent.client.deployTool({ body: strangerBody })).status, 201)

  const name = uniqueName('Registry')
  const hostPort = await freePort()
  const body = { ...agent.deployBody(name, { hostPort, env: [`API_KEY=${SECRET}`, 'MODE=test'] }), accountToolInstanceId: instanceId }
  const deployed = await agent.client.deployTool({ body })
  t.equal(deployed.status, 201)
  const containerId = deployed.status === 201 ? deployed.body.data.container_id : ''

  const running = await waitFor(async () => {
    const row = await rowOf(instanceId)
    return row?.dtma_status === 'running' && row.container_id === containerId ? row : undefined
  })
  t.match(running, {
    account_tool_environment_id: environmentId,
    container_name: String,
    instance_name_on_toolbox: name,
    docker_image_url: 'dtma-test/busybox:v1',
    container_id: containerId,
    dtma_status: 'running',
    docker_status: 'running',
    port_bindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] },
    environment_variables: ['API_KEY', 'MODE']
  })
  const upsert = rest.requests.find((request) => request.method === 'POST' && (request.body as { account_tool_instance_id?: string }).account_tool_instance_id === instanceId)
  t.match(upsert, {
    path: '/rest/v1/dtma_container_registry',
    query: { on_conflict: 'account_tool_instance_id' },
    apikey: key,
    authorization: `Bearer ${key}`,
    status: 201
  })
  t.match(upsert?.prefer, /resolution=merge-duplicates/)
  t.comment(`upsert request: ${upsert?.method} ${upsert?.path}?${new URLSearchParams(upsert?.query).toString()} Prefer: ${upsert?.prefer} body: ${JSON.stringify(upsert?.body)}`)
  const refused = await waitFor(() => rest.requests.find((request) => (request.body as { account_tool_instance_id?: string } | undefined)?.account_tool_instance_id === strangerId))
  t.equal(refused?.status, 409, 'the row of an unknown instance is refused by the foreign key')
  t.equal(await rowOf(strangerId), undefined)
  t.ok(agent.logs.some((line) => line.includes('registry refused a row; dropped')), 'a refused row is logged')

  t.equal((await agent.client.stopTool({ params: { name } })).status, 200)
  t.ok(await waitFor(async () => ((await rowOf(instanceId))?.dtma_status === 'stopped' ? true : undefined)), 'stop reaches the row')
  const stopped = await rowOf(instanceId)
  t.equal(stopped.docker_status, 'exited')
  t.ok(stopped.updated_at > running.updated_at, 'the same row is updated, not a new one')
  t.equal(stopped.id, running.id)

  t.equal((await agent.client.removeTool({ params: { name } })).status, 200)
  t.ok(await waitFor(async () => ((await rowOf(instanceId)) === undefined ? true : undefined)), 'remove deletes the row')
  const deletion = rest.requests.find((request) => request.method === 'DELETE' && request.query.account_tool_instance_id === `eq.${instanceId}`)
  t.match(deletion, { path: '/rest/v1/dtma_container_registry', apikey: key, authorization: `Bearer ${key}`, status: 204, body: undefined })
  t.comment(`delete request: ${deletion?.method} ${deletion?.path}?${new URLSearchParams(deletion?.query).toString()} Prefer: ${deletion?.prefer}`)
  t.equal((await agent.client.removeTool({ params: { name: stranger } })).status, 200)

  const everything = JSON.stringify(rest.requests) + agent.logs.join('\n')
  t.notOk(everything.includes(SECRET), 'no env value in any request or log line')
  t.notOk(agent.logs.join('\n').includes(key), 'the service-role key is never logged')
})

t.test('registry off without Supabase settings: logged once, the agent works', async (t) => {
  const agent = await startTestAgent(t)
  t.equal(agent.logs.filter((line) => line.includes('registry off')).length, 1)
})

t.test('Supabase settings go together', async (t) => {
  const { loadConfig } = await import('../../src/config.ts')
  t.throws(() => loadConfig({ BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null', SUPABASE_URL: 'http://127.0.0.1:1' }), /SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY go together/)
  t.throws(() => loadConfig({ BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null', SUPABASE_URL: 'http://x', SUPABASE_SERVICE_ROLE_KEY: 'k', ACCOUNT_TOOL_ENVIRONMENT_ID: 'not-a-uuid' }), /ACCOUNT_TOOL_ENVIRONMENT_ID/)
})
