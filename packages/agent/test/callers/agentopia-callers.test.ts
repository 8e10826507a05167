// Every sequence of Agentopia's deployed callers, replayed byte for byte
// against the real agent binary on real Docker, before and after the agent
// restarts (through POST /restart, as the DTMA console does, with this test
// as its supervisor): toolbox-tools' callDTMA with its old "30000" port
// default, ToolInstanceService's callDtmaApi with raw names and stored
// overrides of every shape, the token-less status readers (they succeed and
// see no instance: DTMA_PUBLIC_STATUS=minimal is the default), the refresh
// operation, the DTMA console, and the restart incident itself. The backend's
// calls carry the fleet key (DTMA_ACCEPT_FLEET_KEY is on by default); the
// console's /logs, /restart and /redeploy need a token (the fleet key is 403).
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import t, { type Test } from 'tap'
import { docker, FLEET_KEY, fetchText, freePort, removeInstances, tempDir, TEST_IMAGE, TOKEN, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import {
  adminServiceOverride,
  backendStatus,
  callDTMA,
  callDtmaApi,
  CallerError,
  consoleCall,
  instanceServiceDeploy,
  mcpServiceOverride,
  readStatus,
  toolboxToolsOverride
} from '../helpers/agentopia-callers.ts'

/** The agent's "exited to be started again" code (src/server.ts). */
const RESTART_EXIT_CODE = 75

/** Production's port when it is free here, so "30000" is the agent's own port as in production. */
async function agentPort(): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(30000, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
  return free ? 30000 : freePort()
}

/** `docker port` of a container as "8080/tcp>30001" entries. */
function dockerPorts(containerId: string): string[] {
  return execFileSync('docker', ['port', containerId], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes('->'))
    .map((line) => `${line.split(' -> ')[0]}>${line.slice(line.lastIndexOf(':') + 1)}`)
    .sort()
}

interface World {
  agent: AgentProcess
  port: number
  base: string
  names: string[]
}

/** Throws nothing: the real callers treat any non-2xx as a failure, and so does this. */
async function succeeds<T>(t: Test, what: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    const result = await call()
    t.pass(what)
    return result
  } catch (error) {
    t.fail(`${what}: ${error instanceof CallerError ? `${error.status} ${error.text}` : String(error)}`)
    return undefined
  }
}

/** toolbox-tools: deploy with HostPort "30000", start/stop/start, list, delete; percent-encoded names. */
async function toolboxToolsSequence(t: Test, world: World, label: string): Promise<string> {
  const name = uniqueName(`Context7 ${label}`)
  world.names.push(name)
  const path = `/tools/${encodeURIComponent(name)}`
  const body = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: toolboxToolsOverride({ API_KEY: 'sk-toolbox-tools' }, world.port) }
  const deployed = await succeeds(t, 'toolbox-tools deploy', () => callDTMA(world.base, FLEET_KEY, 'POST', '/tools', body))
  const bound = deployed?.data.ports[0]?.host_port
  t.ok(bound !== undefined && bound !== world.port && bound >= 30001 && bound <= 30999, `the agent's own port ${world.port} was replaced by ${bound}`)
  t.match(deployed?.message, /is the DTMA agent's own port: 8080\/tcp is bound to \d+ instead/)
  t.same(dockerPorts(deployed?.data.container_id), [`8080/tcp>${bound}`], 'docker port shows the reported port')
  t.equal(await fetchText(`http://127.0.0.1:${bound}/`), 'dtma-test-ok\n', 'the tool answers on it')
  t.match(await succeeds(t, 'start (already running)', () => callDTMA(world.base, FLEET_KEY, 'POST', `${path}/start`)), { success: true, data: { state: 'running' } })
  t.match(await succeeds(t, 'stop', () => callDTMA(world.base, FLEET_KEY, 'POST', `${path}/stop`)), { success: true, data: { state: 'stopped' } })
  t.match(await succeeds(t, 'start', () => callDTMA(world.base, FLEET_KEY, 'POST', `${path}/start`)), { success: true, data: { state: 'running' } })
  const again = await succeeds(t, 'the same deploy again (its retry)', () => callDTMA(world.base, FLEET_KEY, 'POST', '/tools', body))
  t.equal(again?.data.container_id, deployed?.data.container_id, 'one container, not two')
  t.same(again?.data.ports, deployed?.data.ports, 'on the port it holds')

  // The deployed toolbox-tools lists without a token: it still succeeds, and
  // (DTMA_PUBLIC_STATUS=minimal, the default) sees no instance; ours sends the token.
  const anonymous = await succeeds(t, 'deployed toolbox-tools list (GET /status, no token)', () => readStatus(world.base))
  t.comment(`GET /status without a token: expected tool_instances [] (readers map over it); seen ${JSON.stringify(anonymous?.tool_instances)}`)
  t.same(anonymous?.tool_instances, [], 'an empty list, never absent, and nothing about the tools')
  t.notOk(JSON.stringify(anonymous).includes(name), 'the instance name is nowhere in it')
  const listed = await succeeds(t, 'our toolbox-tools list (GET /status with the token)', () => readStatus(world.base, FLEET_KEY))
  const item = listed?.tool_instances.find((entry: { instance_name_on_toolbox: string }) => entry.instance_name_on_toolbox === name)
  t.match(item, { container_id: deployed?.data.container_id, instance_name_on_toolbox: name, status: 'running', image: TEST_IMAGE, created: Number, ports: [{ private_port: 8080, public_port: bound, type: 'tcp', ip: '127.0.0.1' }] })
  return name
}

/** The restart incident's second half: an instance deployed before the restart answers after it. */
async function afterRestart(t: Test, world: World, name: string): Promise<void> {
  const path = `/tools/${encodeURIComponent(name)}`
  t.match(await succeeds(t, 'stop after the restart', () => callDTMA(world.base, FLEET_KEY, 'POST', `${path}/stop`)), { data: { state: 'stopped' } })
  t.match(await succeeds(t, 'start after the restart', () => callDTMA(world.base, FLEET_KEY, 'POST', `${path}/start`)), { data: { state: 'running' } })
  t.match(await succeeds(t, 'delete after the restart', () => callDTMA(world.base, FLEET_KEY, 'DELETE', path)), { success: true, message: `Tool instance '${name}' removed successfully.` })
}

/** toolbox-tools' 404 path: start answers 404, it re-deploys (HostPort "30000" again) and starts. */
async function redeployAfter404(t: Test, world: World): Promise<void> {
  const name = uniqueName('Lost Tool')
  world.names.push(name)
  const path = `/tools/${encodeURIComponent(name)}`
  try {
    await callDTMA(world.base, FLEET_KEY, 'POST', `${path}/start`)
    t.fail('start of an unknown instance must be a 404')
  } catch (error) {
    t.equal((error as CallerError).status, 404, 'start of an instance the agent does not have: 404')
    t.match((error as CallerError).text, `Tool instance '${name}' not found or not managed by this DTMA.`)
  }
  const body = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: toolboxToolsOverride({}, world.port) }
  t.ok(await succeeds(t, 're-deploy after the 404', () => callDTMA(world.base, FLEET_KEY, 'POST', '/tools', body)))
  t.match(await succeeds(t, 'start after the re-deploy', () => callDTMA(world.base, FLEET_KEY, 'POST', `${path}/start`)), { data: { state: 'running' } })
  t.ok(await succeeds(t, 'delete', () => callDTMA(world.base, FLEET_KEY, 'DELETE', path)))
}

/** ToolInstanceService: the stored override as it is, raw names in the path. */
async function instanceServiceSequences(t: Test, world: World): Promise<void> {
  const overrides: Array<[string, unknown]> = [
    ['null override', null],
    ['admin MCP service override', adminServiceOverride(TEST_IMAGE, { API_KEY: 'sk-admin' }, world.port)],
    ['MCP service override', mcpServiceOverride()],
    ['mixed override', { ...adminServiceOverride(TEST_IMAGE, { A: '1' }, world.port), ...toolboxToolsOverride({ B: '2' }, world.port) }]
  ]
  for (const [shape, override] of overrides) {
    const name = uniqueName(`Service ${shape.split(' ')[0]}`)
    world.names.push(name)
    const deployed = await succeeds(t, `ToolInstanceService deploy with a ${shape}`, () => instanceServiceDeploy(world.base, FLEET_KEY, { image: TEST_IMAGE, name, id: randomUUID(), override }))
    if (deployed === undefined) continue
    for (const port of deployed.data.ports) t.not(port.host_port, world.port, `${shape}: never the agent's own port`)
    if (shape === 'MCP service override') {
      t.match(deployed.data.mcp, { transport: 'stdio', endpoint: '/mcp', port: 8080, capabilities: ['tools'], url_path: `/tools/${encodeURIComponent(name)}/mcp` }, 'the MCP keys are kept and reported')
      t.match(deployed.warnings, [/dockerImage "default-mcp-server:latest" differs/, /storage is not applied/])
      const inspected = await docker.getContainer(deployed.data.container_id).inspect()
      t.same([inspected.HostConfig.Memory, inspected.HostConfig.NanoCpus], [256 * 1024 * 1024, 0.2e9], 'resourceLimits applied')
    }
    // Raw name: fetch encodes the spaces, nothing else.
    t.match(await succeeds(t, `${shape}: stop`, () => callDtmaApi(world.base, FLEET_KEY, 'POST', `/tools/${name}/stop`)), { success: true, data: { state: 'stopped' } })
    t.match(await succeeds(t, `${shape}: start`, () => callDtmaApi(world.base, FLEET_KEY, 'POST', `/tools/${name}/start`)), { success: true, data: { state: 'running' } })
    t.match(await succeeds(t, `${shape}: delete`, () => callDtmaApi(world.base, FLEET_KEY, 'DELETE', `/tools/${name}`)), { success: true })
  }
}

/** The token-less readers, the refresh operation and the DTMA console. */
async function readers(t: Test, world: World, runningName: string): Promise<void> {
  const open = await succeeds(t, 'health monitor / console: GET /status without a token', () => readStatus(world.base))
  t.match(open, {
    status: 'healthy',
    version: String,
    service: 'DTMA',
    environment: { hasAuthToken: Boolean, hasApiKey: true, hasApiBaseUrl: Boolean, port: String(world.port) },
    system_metrics: {
      cpu_load_percent: Number,
      memory: { total_bytes: Number, active_bytes: Number, free_bytes: Number, used_bytes: Number },
      disk: { mount: '/', total_bytes: Number, used_bytes: Number, free_bytes: Number }
    },
    cpu_load_percent: Number,
    uptime_seconds: Number,
    tool_instances: []
  })
  const refreshed = await succeeds(t, 'refresh operation: GET /status with the token', () => readStatus(world.base, FLEET_KEY))
  t.ok(refreshed?.version ?? refreshed?.dtma_version, 'version or dtma_version')
  t.ok(refreshed?.environment ?? refreshed?.system_metrics, 'environment or system_metrics')
  const mine = refreshed?.tool_instances.find((item: { instance_name_on_toolbox: string }) => item.instance_name_on_toolbox === runningName)
  t.match(mine, { account_tool_instance_id: String, status: String, container_id: String, instance_name_on_toolbox: runningName })
  t.equal(backendStatus(mine?.status ?? ''), 'running', "the backend's mapping of the status")
  for (const item of refreshed?.tool_instances ?? []) t.not(backendStatus(item.status), undefined)

  const system = await consoleCall(world.base, 'GET', '/system')
  t.match(system, { status: 200, body: { cpu_load_percent: Number, memory: { total_bytes: Number }, disk: { mount: '/' } } }, 'console: GET /system without a token, the machine')
  t.notOk('docker' in (system.body as object), 'but not the Docker engine (DTMA_PUBLIC_STATUS=minimal)')
  t.match(await consoleCall(world.base, 'GET', '/system', FLEET_KEY), { status: 200, body: { docker: { available: true, version: String } } }, 'console: GET /system with the token, the engine too')
  // Deliberate differences: these were open to the internet before.
  for (const [method, path] of [['GET', '/logs'], ['POST', '/restart'], ['POST', '/redeploy']] as const) {
    const anonymous = await consoleCall(world.base, method, path)
    t.match(anonymous, { status: 401, body: { success: false, error: /^Unauthorized: Missing or invalid token format/ } }, `console without a token: ${method} ${path} is 401`)
    // The fleet key may do what the backend does (tools:read, tools:write), never the agent's logs, restart or upgrade.
    const fleet = await consoleCall(world.base, method, path, FLEET_KEY)
    t.comment(`fleet key | ${method} ${path} | 403 the fleet key may not | ${fleet.status} ${String(fleet.body?.error).slice(0, 60)}`)
    t.match(fleet, { status: 403, body: { success: false, error: /the fleet key \(BACKEND_TO_DTMA_API_KEY\) may not call this route.*dtma token/ } }, `console with the fleet key: ${method} ${path} is 403`)
  }
  t.match(await consoleCall(world.base, 'GET', '/logs', TOKEN), { status: 200, body: { logs: Array, timestamp: String } }, 'console with a token (logs:read): GET /logs')
  t.match(
    await consoleCall(world.base, 'POST', '/redeploy', TOKEN),
    { status: 501, body: { success: false, code: 'DTMA_NOT_IMPLEMENTED', error: /does not run in a Docker container/ } },
    'console: POST /redeploy of an agent outside a container says how to upgrade it instead'
  )
}

t.test("Agentopia's callers, before and after an agent restart", async (t) => {
  const dataDir = tempDir(t)
  const port = await agentPort()
  const world: World = { agent: spawnAgent(dataDir, port), port, base: `http://127.0.0.1:${port}`, names: [] }
  t.teardown(async () => {
    await world.agent.kill()
    await removeInstances(world.names)
  })
  await world.agent.ready()

  let survivor = ''
  await t.test('before the restart', async (t) => {
    survivor = await toolboxToolsSequence(t, world, 'Before')
    await redeployAfter404(t, world)
    await instanceServiceSequences(t, world)
    await readers(t, world, survivor)
  })

  await t.test('POST /restart as the DTMA console sends it (with a token holding agent:admin): the tools keep running', async (t) => {
    const before = await docker.getContainer((await readStatus(world.base, FLEET_KEY)).tool_instances.find((i: { instance_name_on_toolbox: string }) => i.instance_name_on_toolbox === survivor).container_id).inspect()
    const restart = await consoleCall(world.base, 'POST', '/restart', TOKEN)
    t.match(restart, { status: 202, body: { success: true, message: /restarting/ } })
    const exited = await new Promise<number | null>((resolve) => world.agent.child.once('exit', (code) => resolve(code)))
    t.equal(exited, RESTART_EXIT_CODE, 'the agent exits for its supervisor to start it again')
    world.agent = spawnAgent(dataDir, port)
    await world.agent.ready()
    const after = await docker.getContainer(before.Id).inspect()
    t.equal(after.State.Running, true, 'the tool ran through the restart')
    t.equal(after.State.StartedAt, before.State.StartedAt, 'and was never restarted itself')
  })

  await t.test('after the restart', async (t) => {
    await afterRestart(t, world, survivor)
    const name = await toolboxToolsSequence(t, world, 'After')
    await redeployAfter404(t, world)
    await instanceServiceSequences(t, world)
    await readers(t, world, name)
    await afterRestart(t, world, name)
  })
})
