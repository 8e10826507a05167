// The registry writer end to end: a real agent on real Docker calls the real
// `registry` edge function (Deno) with supabase-js functions.invoke and its
// own per-VM token; the function reaches a PostgREST stand-in that records
// each request and applies it to a real PostgreSQL with the migrations.
// Checks the exact calls (POST /functions/v1/registry, the toolbox token as
// bearer, no service-role key anywhere on the agent's side), the database
// functions they become, the rows they leave, that env values and tokens
// never leave the agent, and that a refused row (another toolbox's or an
// unknown instance) is dropped without blocking the others.
import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { startTestAgent, VM_TOKEN } from '../helpers/agent.ts'
import { registryBackend, setToolboxToken } from '../helpers/edge-function.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'
import { freePort, uniqueName } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const SECRET = `env-secret-${randomBytes(6).toString('hex')}`

t.test('deploy, stop and remove reach dtma_container_registry through the registry function', async (t) => {
  const db = await createTestDatabase(t)
  const [instanceId, strangerId, otherToolboxId] = [randomUUID(), randomUUID(), randomUUID()]
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [instanceId])
  await seedInstances(db.pool, randomUUID(), [otherToolboxId])
  await setToolboxToken(db.pool, environmentId, VM_TOKEN)
  const { rest, fn, serviceRoleKey: key } = await registryBackend(t, db.pool)
  const agent = await startTestAgent(t, { env: { SUPABASE_URL: fn.url, ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId } })
  const rowOf = async (id: string) => (await db.pool.query('select * from dtma_container_registry where account_tool_instance_id = $1', [id])).rows[0]

  // Refused rows first (an unknown instance, another toolbox's instance): they must not block the real one.
  const stranger = uniqueName('Stranger')
  t.equal((await agent.client.deployTool({ body: { ...agent.deployBody(stranger), accountToolInstanceId: strangerId } })).status, 201)
  const foreign = uniqueName('Foreign')
  t.equal((await agent.client.deployTool({ body: { ...agent.deployBody(foreign), accountToolInstanceId: otherToolboxId } })).status, 201)

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
    environment_variables: ['API_KEY', 'MODE'],
    egress: 'internet'
  })
  const upsert = await waitFor(() => fn.calls.find((call) => (call.body as { row?: { account_tool_instance_id?: string } }).row?.account_tool_instance_id === instanceId && call.status !== 0))
  t.match(upsert, { method: 'POST', path: '/functions/v1/registry', authorization: `Bearer ${VM_TOKEN}`, apikey: VM_TOKEN, body: { operation: 'upsert' }, status: 200 })
  t.comment(`agent's call: ${upsert?.method} ${upsert?.path} Authorization: Bearer <the toolbox's token> body: ${JSON.stringify({ ...(upsert?.body as object), row: '…' })}`)
  const rpc = rest.requests.find((request) => request.path === '/rest/v1/rpc/dtma_registry_upsert' && JSON.stringify(request.body).includes(instanceId))
  t.match(rpc, { method: 'POST', apikey: key, authorization: `Bearer ${key}`, body: { p_account_tool_environment_id: environmentId, p_row: { account_tool_instance_id: instanceId } } })
  t.comment(`the function's call, in the backend: ${rpc?.method} ${rpc?.path} body keys: ${Object.keys(rpc?.body as object).join(', ')}`)
  for (const [label, id] of [['an unknown instance', strangerId], ['another toolbox’s instance', otherToolboxId]] as const) {
    // Answered: the gateway records a call when it arrives and its status when the function answers.
    const refused = await waitFor(() => fn.calls.find((call) => (call.body as { row?: { account_tool_instance_id?: string } }).row?.account_tool_instance_id === id && call.status !== 0))
    t.comment(`the row of ${label}: expected 403, seen ${refused?.status}`)
    t.equal(refused?.status, 403, `the row of ${label} is refused`)
    t.equal(await rowOf(id), undefined)
  }
  t.ok(await waitFor(() => agent.logs.some((line) => line.includes('registry refused a row; dropped')) || undefined), 'a refused row is logged')

  t.equal((await agent.client.stopTool({ params: { name } })).status, 200)
  t.ok(await waitFor(async () => ((await rowOf(instanceId))?.dtma_status === 'stopped' ? true : undefined)), 'stop reaches the row')
  const stopped = await rowOf(instanceId)
  t.equal(stopped.docker_status, 'exited')
  t.ok(stopped.updated_at > running.updated_at, 'the same row is updated, not a new one')
  t.equal(stopped.id, running.id)

  t.equal((await agent.client.removeTool({ params: { name } })).status, 200)
  t.ok(await waitFor(async () => ((await rowOf(instanceId)) === undefined ? true : undefined)), 'remove deletes the row')
  const deletion = await waitFor(() =>
    fn.calls.find((call) => (call.body as { operation?: string; account_tool_instance_id?: string }).operation === 'delete' && (call.body as { account_tool_instance_id?: string }).account_tool_instance_id === instanceId && call.status !== 0)
  )
  t.match(deletion, { method: 'POST', path: '/functions/v1/registry', authorization: `Bearer ${VM_TOKEN}`, status: 200 })
  t.comment(`delete call: ${JSON.stringify(deletion?.body)} -> ${deletion?.status}`)
  for (const instance of [stranger, foreign]) t.equal((await agent.client.removeTool({ params: { name: instance } })).status, 200)

  const everything = JSON.stringify(fn.calls) + JSON.stringify(rest.requests) + agent.logs.join('\n')
  t.notOk(everything.includes(SECRET), 'no env value in any request or log line')
  t.notOk(JSON.stringify(fn.calls).includes(key) || agent.logs.join('\n').includes(key), 'the service-role key is never sent by the agent nor logged')
  t.notOk(agent.logs.join('\n').includes(VM_TOKEN), 'the toolbox token is never logged')
  t.comment(`PostgREST wire problems: expected none, seen ${JSON.stringify(rest.violations)}`)
  t.same(rest.violations, [], 'the registry function sent PostgREST only what supabase-js sends')
  t.comment(`rows mirrored: ${fn.calls.filter((call) => call.status === 200).length} calls ok, ${fn.calls.filter((call) => call.status === 403).length} refused`)
})

t.test('registry off without Supabase settings: logged once, the agent works', async (t) => {
  const agent = await startTestAgent(t)
  t.equal(agent.logs.filter((line) => line.includes('registry off')).length, 1)
})

t.test('the service-role key is no longer a setting: ignored, named, never kept', async (t) => {
  const { loadConfig } = await import('../../src/config.ts')
  const key = `service-role-${randomBytes(8).toString('hex')}`
  const config = loadConfig({ BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null', SUPABASE_URL: 'http://127.0.0.1:1', SUPABASE_SERVICE_ROLE_KEY: key })
  t.same(config.ignoredSettings, ['SUPABASE_SERVICE_ROLE_KEY'])
  t.notOk(JSON.stringify(config).includes(key), 'the key is nowhere in the settings')
  t.same(config.registry, { supabaseUrl: 'http://127.0.0.1:1', retryMaxMs: 10_000 })
  t.throws(() => loadConfig({ BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null', SUPABASE_URL: 'http://x', ACCOUNT_TOOL_ENVIRONMENT_ID: 'not-a-uuid' }), /ACCOUNT_TOOL_ENVIRONMENT_ID/)
})
