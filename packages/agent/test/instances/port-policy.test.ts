// Host ports as the callers ask for them: the agent's own port and another
// instance's port are replaced by a free port of the tool range, "", 0 or
// nothing asks for one, a stopped instance keeps its port across restarts,
// concurrent deploys never share one, and what is reported is what Docker
// binds (`docker port`). Each test has a range of its own: test files run
// side by side on one Docker engine.
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:net'
import t from 'tap'
import { startTestAgent, type TestAgent, uniqueName } from '../helpers/agent.ts'

/** `docker port` of a container as "8080/tcp>30001" entries. */
function dockerPorts(containerId: string): string[] {
  return execFileSync('docker', ['port', containerId], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes('->'))
    .map((line) => {
      const [containerPort, address] = line.split(' -> ') as [string, string]
      return `${containerPort}>${address.slice(address.lastIndexOf(':') + 1)}`
    })
    .sort()
}

function reportedPorts(ports: Array<{ container_port: number; protocol: string; host_port: number }>): string[] {
  return ports.map((port) => `${port.container_port}/${port.protocol}>${port.host_port}`).sort()
}

function deployAsking(agent: TestAgent, name: string, hostPort: string | number | null) {
  const body = agent.deployBody(name)
  return agent.client.deployTool({ body: { ...body, baseConfigOverrideJson: { HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: hostPort }] } } } } })
}

t.test("the agent's own port and another instance's port are reassigned from the range", async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31500-31509' } })
  const own = await deployAsking(agent, uniqueName('Own Port'), String(agent.port))
  t.equal(own.status, 201, JSON.stringify(own.body))
  if (own.status !== 201) return
  t.same(reportedPorts(own.body.data.ports), ['8080/tcp>31500'])
  t.same(dockerPorts(own.body.data.container_id), ['8080/tcp>31500'], 'docker port shows the reported port')
  t.match(own.body.message, new RegExp(`Host port ${agent.port} is the DTMA agent's own port: 8080/tcp is bound to 31500 instead\\.`))
  t.match(own.body.warnings, [/host port \d+ is the DTMA agent's own port/])

  const name = uniqueName('Taken Port')
  const taken = await deployAsking(agent, name, 31500)
  t.equal(taken.status, 201)
  if (taken.status !== 201) return
  t.same(reportedPorts(taken.body.data.ports), ['8080/tcp>31501'])
  t.match(taken.body.message, /Host port 31500 is already used by tool instance '.*Own Port.*': 8080\/tcp is bound to 31501 instead\./)

  for (const ask of ['', 0, null]) {
    const any = await deployAsking(agent, uniqueName('Any Port'), ask)
    t.equal(any.status, 201, `HostPort ${JSON.stringify(ask)} asks for a range port`)
    if (any.status === 201) {
      t.equal(any.body.data.ports[0]?.host_port !== undefined && any.body.data.ports[0].host_port >= 31502 && any.body.data.ports[0].host_port <= 31509, true)
      t.notMatch(any.body.message, /instead/, 'asking for any port is not a reassignment')
      t.same(dockerPorts(any.body.data.container_id), reportedPorts(any.body.data.ports))
    }
  }
  const status = await agent.client.listToolStatus()
  if (status.status === 200) {
    for (const instance of status.body.data) t.same(dockerPorts(instance.container_id), reportedPorts(instance.ports), `${instance.instance_name_on_toolbox}: /tools/status = docker port`)
  }
})

t.test('a stopped instance keeps its port, across an agent restart too', async (t) => {
  const env = { DTMA_TOOL_PORT_RANGE: '31510-31519' }
  const first = await startTestAgent(t, { env })
  const keeper = uniqueName('Keeper')
  const kept = await deployAsking(first, keeper, '')
  if (kept.status !== 201) return t.fail(JSON.stringify(kept.body))
  t.equal((await first.client.stopTool({ params: { name: keeper } })).status, 200)
  const other = await deployAsking(first, uniqueName('Other'), 31510)
  t.equal(other.status === 201 && other.body.data.ports[0]?.host_port, 31511, "the stopped instance's port is not handed out")
  await first.app.close()

  const second = await startTestAgent(t, { env, dataDir: first.dataDir })
  const third = await deployAsking(second, uniqueName('Third'), 31510)
  t.equal(third.status === 201 && third.body.data.ports[0]?.host_port, 31512, 'after a restart it is still held')
  const started = await second.client.startTool({ params: { name: keeper } })
  t.equal(started.status, 200)
  const view = await second.client.getTool({ params: { name: keeper } })
  if (view.status !== 200) return t.fail('keeper not found')
  t.same(reportedPorts(view.body.data.ports), ['8080/tcp>31510'])
  t.same(dockerPorts(view.body.data.container_id), ['8080/tcp>31510'], 'it runs on the port it kept')
})

t.test('20 concurrent deploys asking for the same port each get their own', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31520-31549' } })
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => deployAsking(agent, uniqueName(`Crowd ${i}`), 31520)))
  const ports: number[] = []
  for (const reply of replies) {
    t.equal(reply.status, 201)
    if (reply.status !== 201) continue
    const [port] = reply.body.data.ports
    ports.push(port?.host_port ?? 0)
    t.same(dockerPorts(reply.body.data.container_id), reportedPorts(reply.body.data.ports), 'reported = docker port')
  }
  t.equal(new Set(ports).size, 20, 'twenty different host ports')
  t.equal(ports.filter((port) => port === 31520).length, 1, 'exactly one got the port it asked for')
  t.equal(replies.filter((reply) => reply.status === 201 && /instead/.test(reply.body.message)).length, 19, 'the others were told')
})

t.test('with reassignment off, a taken port is a 409 and "" still takes a range port', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31550-31559', DTMA_TOOL_PORT_REASSIGN: 'false' } })
  const own = await deployAsking(agent, uniqueName('Own Port'), agent.port)
  t.match(own, { status: 409, body: { code: 'DTMA_PORT_CONFLICT', error: `Host port ${agent.port}/tcp is the DTMA agent's own port` } })
  const holder = uniqueName('Holder')
  const any = await deployAsking(agent, holder, '')
  t.equal(any.status === 201 && any.body.data.ports[0]?.host_port, 31550)
  const clash = await deployAsking(agent, uniqueName('Clash'), 31550)
  t.match(clash, { status: 409, body: { code: 'DTMA_PORT_CONFLICT', error: `Host port 31550/tcp is already used by tool instance '${holder}'` } })
})

t.test('a range port held outside DTMA is skipped', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31560-31569' } })
  const squatter = createServer()
  await new Promise<void>((resolve) => squatter.listen(31560, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())))
  const reply = await deployAsking(agent, uniqueName('Dodger'), '')
  t.equal(reply.status, 201, JSON.stringify(reply.body))
  if (reply.status !== 201) return
  t.same(reportedPorts(reply.body.data.ports), ['8080/tcp>31561'])
  t.same(dockerPorts(reply.body.data.container_id), ['8080/tcp>31561'])
})
