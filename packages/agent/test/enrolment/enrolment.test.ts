// Single-use enrolment on real PostgreSQL through the real `toolbox-enroll`
// and `registry` edge functions (Deno): the token is stored hashed, works
// once within its hour, and a replayed, expired or unknown token is refused
// with a clear JSON error. A real agent started with only the enrolment
// token stores its credentials (mode 0600), is reached with its new token
// and with the fleet key it holds only as a hash, mirrors its instances
// through the registry function, starts again from the stored credentials,
// and an agent given a used token says why and exits non-zero. Nothing of
// the fleet key or the service-role key appears in the agent's settings,
// logs, files or labels.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createDtmaClient, signToolboxToken, toolboxAudience } from '@dtma/contract'
import t from 'tap'
import { docker, freePort, removeInstances, TEST_IMAGE, tempDir, uniqueName } from '../helpers/agent.ts'
import { spawnAgent } from '../helpers/agent-process.ts'
import { startEdgeFunction } from '../helpers/edge-function.ts'
import { createTestDatabase, seedInstances, type TestDatabase } from '../helpers/postgres.ts'
import { PostgrestStandIn } from '../helpers/postgrest-stand-in.ts'
import { waitFor } from '../helpers/wait.ts'

const FLEET_KEY = `fleet-key-${randomBytes(16).toString('hex')}`
const SERVICE_ROLE_KEY = `service-role-${randomBytes(12).toString('hex')}`
const ANON_KEY = `anon-${randomBytes(8).toString('hex')}`

async function backend(t: { teardown(fn: () => unknown): void }) {
  const db = await createTestDatabase(t)
  const instanceId = randomUUID()
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [instanceId])
  const rest = new PostgrestStandIn(db.pool, SERVICE_ROLE_KEY)
  await rest.up()
  t.teardown(() => rest.down())
  const registry = await startEdgeFunction(t, 'registry', { SUPABASE_URL: rest.url, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY })
  const enroll = await startEdgeFunction(t, 'toolbox-enroll', {
    SUPABASE_URL: rest.url,
    SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
    SUPABASE_ANON_KEY: ANON_KEY,
    BACKEND_TO_DTMA_API_KEY: FLEET_KEY,
    // Toolboxes reach the project here (the registry function's gateway in this test).
    DTMA_TOOLBOX_SUPABASE_URL: registry.url
  })
  const issue = async (): Promise<string> => (await db.pool.query<{ token: string }>('select dtma_issue_enrolment($1) as token', [environmentId])).rows[0]!.token
  return { db, rest, registry, enroll, environmentId, instanceId, issue }
}

async function redeem(url: string, init: { token?: string; bearer?: string; method?: string; body?: string }) {
  const response = await fetch(`${url}/functions/v1/toolbox-enroll`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(init.bearer !== undefined && { authorization: `Bearer ${init.bearer}` }) },
    ...((init.method ?? 'POST') === 'POST' && { body: init.body ?? JSON.stringify(init.token === undefined ? {} : { enrolment_token: init.token }) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

const bearerOf = async (db: TestDatabase, environmentId: string) =>
  (await db.pool.query<{ t: string | null }>('select dtma_bearer_token as t from account_tool_environments where id = $1', [environmentId])).rows[0]!.t

t.test('an enrolment token works once within its hour, stored only as its hash', async (t) => {
  const world = await backend(t)
  const token = await world.issue()
  const stored = (await world.db.pool.query('select * from dtma_toolbox_enrolments')).rows
  t.equal(stored.length, 1)
  t.equal(stored[0].token_sha256, createHash('sha256').update(token).digest('hex'), 'the backend keeps its SHA-256')
  t.notOk(JSON.stringify(stored).includes(token), 'and never the token')
  t.ok(new Date(stored[0].expires_at).getTime() - new Date(stored[0].created_at).getTime() === 3_600_000, 'it lives one hour')

  const first = await redeem(world.enroll.url, { token })
  t.equal(first.status, 200, 'first use')
  t.match(first.body, {
    success: true,
    account_tool_environment_id: world.environmentId,
    dtma_bearer_token: /^[0-9a-f]{64}$/,
    backend_api_key_sha256: createHash('sha256').update(FLEET_KEY).digest('hex'),
    functions_url: `${world.registry.url}/functions/v1`,
    supabase_url: world.registry.url,
    supabase_anon_key: ANON_KEY
  })
  t.equal(await bearerOf(world.db, world.environmentId), first.body.dtma_bearer_token, 'the backend now knows the toolbox by its new token')
  t.notOk(JSON.stringify(first.body).includes(FLEET_KEY) || JSON.stringify(first.body).includes(SERVICE_ROLE_KEY), 'no fleet key and no service-role key in the answer')

  const expired = await world.issue()
  await world.db.pool.query(`update dtma_toolbox_enrolments set expires_at = now() - interval '1 second' where token_sha256 = $1`, [createHash('sha256').update(expired).digest('hex')])
  const fresh = await world.issue()
  const cases: Array<[string, Parameters<typeof redeem>[1], number, string]> = [
    ['the same token again (replay)', { token }, 409, 'DTMA_ENROLMENT_USED'],
    ['the replay as a bearer token', { bearer: token }, 409, 'DTMA_ENROLMENT_USED'],
    ['a token past its hour', { token: expired }, 410, 'DTMA_ENROLMENT_EXPIRED'],
    ['an unknown token', { token: `dtma_enrol_${randomBytes(32).toString('hex')}` }, 401, 'DTMA_UNAUTHORIZED'],
    ['no token', {}, 401, 'DTMA_UNAUTHORIZED'],
    ['a body that is not JSON', { body: '{"enrolment_token":' }, 400, 'DTMA_BAD_REQUEST'],
    ['an unknown field', { body: JSON.stringify({ enrolment_token: fresh, toolbox: world.environmentId }) }, 400, 'DTMA_BAD_REQUEST'],
    ['GET', { method: 'GET' }, 405, 'DTMA_ROUTE_NOT_FOUND']
  ]
  for (const [name, init, status, code] of cases) {
    const seen = await redeem(world.enroll.url, init)
    t.comment(`${name}: expected ${status} ${code}, seen ${seen.status} ${String(seen.body.code)} (${String(seen.body.error)})`)
    t.equal(seen.status, status, name)
    t.match(seen.body, { success: false, code, error: String }, `${name}: a JSON error`)
    t.notOk('dtma_bearer_token' in seen.body, `${name}: no credentials`)
  }
  const used = (await world.db.pool.query('select count(*)::int as n from dtma_toolbox_enrolments where used_at is not null')).rows[0].n
  t.equal(used, 1, 'only the first use consumed a token; the refused ones changed nothing')
  t.equal((await redeem(world.enroll.url, { bearer: fresh })).status, 200, 'a fresh token sent as Authorization: Bearer works')
})

t.test('an agent enrols once, keeps its credentials 0600, and starts from them without the token', { timeout: 180_000 }, async (t) => {
  const world = await backend(t)
  const token = await world.issue()
  const dataDir = tempDir(t)
  const port = await freePort()
  const name = uniqueName('Enrolled')
  // The old settings linger on this toolbox: the service-role key must be ignored, named, never kept.
  // The product's audience (the enrolled environment id), not the test helpers' one; a short interval: the first heartbeat after a start waits a random part of it.
  const env = { BACKEND_TO_DTMA_API_KEY: '', DTMA_TOKEN_AUDIENCE: '', DTMA_ENROLMENT_TOKEN: token, AGENTOPIA_API_BASE_URL: `${world.enroll.url}/functions/v1`, SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY, DTMA_HEARTBEAT_INTERVAL_S: '2' }
  let agent = spawnAgent(dataDir, port, env)
  const outputs: string[] = []
  t.teardown(async () => {
    await agent.kill()
    await removeInstances([name])
  })
  await agent.ready(60_000)

  const file = join(dataDir, 'toolbox-credentials.json')
  const mode = statSync(file).mode & 0o777
  t.comment(`credentials file: expected mode 600, seen ${mode.toString(8)}`)
  t.equal(mode, 0o600, 'the credentials file is the agent’s alone')
  const credentials = JSON.parse(readFileSync(file, 'utf8')) as { dtma_bearer_token: string; account_tool_environment_id: string }
  t.equal(credentials.dtma_bearer_token, await bearerOf(world.db, world.environmentId), 'it holds the token the backend knows')
  t.equal(credentials.account_tool_environment_id, world.environmentId)
  t.notOk(readdirSync(dataDir).some((entry) => entry.endsWith('.tmp')), 'no temporary file left')
  const fileText = readFileSync(file, 'utf8')
  t.notOk(fileText.includes(FLEET_KEY) || fileText.includes(SERVICE_ROLE_KEY), 'neither the fleet key nor the service-role key on disk')

  const signed = await signToolboxToken(credentials.dtma_bearer_token, { audience: toolboxAudience(world.environmentId), scopes: ['tools:read'], lifetimeSeconds: 60 })
  const asToolbox = createDtmaClient({ baseUrl: agent.baseUrl, token: signed, timeoutMs: 60_000 })
  const rawSecret = createDtmaClient({ baseUrl: agent.baseUrl, token: credentials.dtma_bearer_token, timeoutMs: 60_000 })
  const asFleet = createDtmaClient({ baseUrl: agent.baseUrl, token: FLEET_KEY, timeoutMs: 60_000 })
  const asStranger = createDtmaClient({ baseUrl: agent.baseUrl, token: `x${FLEET_KEY.slice(1)}`, timeoutMs: 60_000 })
  t.equal((await asToolbox.listTools()).status, 200, 'a token signed with the enrolled secret for dtma:<environment id> opens the API')
  t.equal((await rawSecret.listTools()).status, 403, 'the enrolled secret itself is a signing key, no bearer')
  t.equal((await asFleet.listTools()).status, 200, 'the deployed backend’s fleet key is accepted by its hash')
  t.equal((await asStranger.listTools()).status, 401, 'a key one character off is refused')
  const status = (await (await fetch(`${agent.baseUrl}/status`, { headers: { authorization: `Bearer ${signed}` } })).json()) as { environment: Record<string, unknown> }
  t.comment(`/status environment after enrolment: ${JSON.stringify(status.environment)}`)
  t.match(status.environment, { hasAuthToken: true, hasApiKey: true }, 'the status says the fleet key is accepted (by its digest)')

  const deployed = await asFleet.deployTool({ body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: world.instanceId, baseConfigOverrideJson: { Env: ['MODE=enrolled'] } } })
  t.equal(deployed.status, 201)
  const row = await waitFor(async () => (await world.db.pool.query('select * from dtma_container_registry where account_tool_instance_id = $1', [world.instanceId])).rows[0])
  t.match(row, { account_tool_environment_id: world.environmentId, instance_name_on_toolbox: name, dtma_status: 'running' }, 'the enrolled agent mirrors through the registry function')
  t.match(world.registry.calls.find((call) => call.path === '/functions/v1/registry'), { authorization: `Bearer ${credentials.dtma_bearer_token}`, apikey: ANON_KEY, status: 200 })
  t.match(await waitFor(() => world.registry.calls.find((call) => call.path === '/functions/v1/heartbeat'), 10_000), { authorization: `Bearer ${credentials.dtma_bearer_token}` }, 'the heartbeat goes to the enrolled functions URL with the enrolled token')
  const labels = JSON.stringify((await docker.getContainer(deployed.status === 201 ? deployed.body.data.container_id : '').inspect()).Config.Labels)

  await agent.kill()
  outputs.push(agent.output())
  // Restarts: once with the spent token still in the settings, once without it.
  for (const settings of [env, { ...env, DTMA_ENROLMENT_TOKEN: '' }]) {
    agent = spawnAgent(dataDir, port, settings)
    await agent.ready(60_000)
    t.equal((await asToolbox.listTools()).status, 200, 'the stored credentials serve again')
    await agent.kill()
    outputs.push(agent.output())
  }
  t.equal((await world.db.pool.query('select count(*)::int as n from dtma_toolbox_enrolments where used_at is not null')).rows[0].n, 1, 'restarts never enrol again')
  t.equal(await bearerOf(world.db, world.environmentId), credentials.dtma_bearer_token, 'and keep the same token')
  t.match(outputs[1], 'DTMA_ENROLMENT_TOKEN is not used again')

  const warnings = outputs.map((output) => output.split('\n').filter((line) => line.includes('SUPABASE_SERVICE_ROLE_KEY is set but no longer read')).length)
  t.same(warnings, [1, 1, 1], 'each start names the ignored setting once')
  const scanned = [...outputs, labels, fileText]
  for (const [secret, label] of [[SERVICE_ROLE_KEY, 'service-role key'], [FLEET_KEY, 'fleet key'], [token, 'enrolment token']] as const) {
    const found = scanned.filter((text) => text.includes(secret)).length
    t.comment(`${label} in the agent's logs, labels and files: expected 0 places, seen ${found}`)
    t.equal(found, 0, `no ${label} in logs, labels or files`)
  }
  t.notOk(outputs.join('\n').includes(credentials.dtma_bearer_token), 'the toolbox token is never logged')

  // The settings the agent runs with, as it builds them at start from this toolbox's settings and stored credentials.
  const { loadConfig } = await import('../../src/config.ts')
  const { withCredentials } = await import('../../src/enrolment/enrolment.ts')
  const { readCredentials } = await import('../../src/enrolment/credentials-file.ts')
  const settings = withCredentials(loadConfig({ ...env, BACKEND_TO_DTMA_API_KEY: undefined, DTMA_DATA_DIR: dataDir, DTMA_CONFIG_FILE: '/dev/null' }), readCredentials(dataDir)!)
  const dump = JSON.stringify(settings)
  t.comment(`settings dump: service-role key ${dump.includes(SERVICE_ROLE_KEY) ? 'present' : 'absent'}, fleet key ${dump.includes(FLEET_KEY) ? 'present' : 'absent'}, ignored: ${settings.ignoredSettings.join(', ')}`)
  t.notOk(dump.includes(SERVICE_ROLE_KEY) || dump.includes(FLEET_KEY), 'neither key is in the agent’s settings')
  t.same(settings.fleetKeyHashes, [createHash('sha256').update(FLEET_KEY).digest('hex')], 'the fleet key only as its digest')
})

t.test('an agent given a spent enrolment token says why and exits non-zero', async (t) => {
  const world = await backend(t)
  const token = await world.issue()
  t.equal((await redeem(world.enroll.url, { token })).status, 200, 'someone used it first')
  const dataDir = tempDir(t)
  const agent = spawnAgent(dataDir, await freePort(), { BACKEND_TO_DTMA_API_KEY: '', DTMA_ENROLMENT_TOKEN: token, AGENTOPIA_API_BASE_URL: `${world.enroll.url}/functions/v1` })
  const [code] = (agent.child.exitCode !== null ? [agent.child.exitCode] : await once(agent.child, 'exit')) as [number]
  const output = agent.output()
  t.comment(`replayed token: expected exit 78 with a reason, seen exit ${code}: ${output.split('\n').find((line) => line.includes('enrolment refused'))?.slice(0, 300)}`)
  t.equal(code, 78, 'EX_CONFIG: the supervisor’s restarts cannot help')
  t.match(output, /enrolment refused \(409 DTMA_ENROLMENT_USED\).*used already.*new enrolment token issued by the backend/)
  t.notOk(output.includes(token), 'the token itself is not logged')
  t.throws(() => statSync(join(dataDir, 'toolbox-credentials.json')), { code: 'ENOENT' }, 'no credentials stored')
})
