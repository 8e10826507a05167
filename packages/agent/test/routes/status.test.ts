// /status and /health never fail: a Docker outage is `degraded`, and the
// Docker routes answer 503 with Retry-After instead of a 500.
import t from 'tap'
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts'
import { authHeaders, startTestAgent, tempDir, uniqueName } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const unreachableDocker = (dir: string) =>
  new DockerRuntime({ socketPath: `${dir}/no-docker.sock`, scope: 'unreachable', sandbox: { memoryBytes: 64 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' }, pullTimeoutMs: 5000 })

t.test('Docker unreachable: /health OK, /status degraded, Docker routes 503 + Retry-After', async (t) => {
  const agent = await startTestAgent(t, { runtime: unreachableDocker(tempDir(t)), waitReady: false })
  const health = await fetch(`${agent.baseUrl}/health`)
  t.equal(health.status, 200)
  t.equal(await health.text(), 'OK')

  const ready = await agent.client.ready()
  t.match(ready, { status: 503, body: { success: false, code: 'DTMA_NOT_READY' } }, 'not ready without Docker')

  const status = await agent.client.status()
  t.equal(status.status, 200)
  t.match(status.body, { status: 'degraded', reason: /Docker engine unreachable/, tool_instances: [] })

  for (const call of [() => agent.client.listToolStatus(), () => agent.client.startTool({ params: { name: 'Any Tool' } })]) {
    const reply = await call()
    t.match(reply, { status: 503, body: { success: false, code: 'DTMA_DOCKER_UNAVAILABLE', error: /Docker engine unreachable/ } })
  }
  const raw = await fetch(`${agent.baseUrl}/tools/status`, { headers: authHeaders() })
  t.equal(raw.headers.get('retry-after'), '5')
})

t.test('DTMA_PUBLIC_STATUS=minimal (the default) hides the instances, not the machine, from callers without a valid token', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Minimal')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name) })).status, 201)
  for (const [who, headers] of [['no token', {}], ['a wrong token', authHeaders('wrong')]] as const) {
    const body = await (await fetch(`${agent.baseUrl}/status`, { headers })).json()
    t.comment(`${who}: expected healthy, tool_instances [] and hidden, metrics; seen ${body.status}, ${JSON.stringify(body.tool_instances)}, hidden ${body.tool_instances_hidden}, cpu ${typeof body.system_metrics?.cpu_load_percent}`)
    t.equal(body.status, 'healthy')
    t.same(body.tool_instances, [], `${who}: an empty list, never absent`)
    t.equal(body.tool_instances_hidden, true)
    t.type(body.system_metrics?.cpu_load_percent, 'number', `${who}: the machine's metrics stay`)
  }
  const withToken = await fetch(`${agent.baseUrl}/status`, { headers: authHeaders() })
  t.equal(withToken.status, 200)
  const full = await withToken.json()
  t.ok(full.tool_instances.some((item: { instance_name_on_toolbox: string }) => item.instance_name_on_toolbox === name), 'with the token: the instances')
  t.notOk('tool_instances_hidden' in full)
  t.type(full.system_metrics?.cpu_load_percent, 'number')
})

t.test('a status poll is answered from memory: no store read, no Docker call, and still current after a change', async (t) => {
  const calls = { store: 0, docker: 0 }
  const real = new DockerRuntime({ socketPath: '/var/run/docker.sock', scope: `poll-${process.pid}`, sandbox: { memoryBytes: 64 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' }, pullTimeoutMs: 5000 })
  const countingRuntime = new Proxy(real, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver)
      return typeof value === 'function' ? (...args: unknown[]) => (calls.docker++, value.apply(target, args)) : value
    }
  })
  const agent = await startTestAgent(t, { runtime: countingRuntime })
  const names = [uniqueName('Poll A'), uniqueName('Poll B')]
  for (const name of names) t.equal((await agent.client.deployTool({ body: agent.deployBody(name) })).status, 201)
  for (const method of ['get', 'list'] as const) {
    const read = agent.store[method].bind(agent.store) as (...args: never[]) => unknown
    agent.store[method] = ((...args: never[]) => (calls.store++, read(...args))) as never
  }
  // The deploys' Docker events are reconciled in the background (store and
  // Docker reads): wait until that is over before counting.
  const settled = await waitFor(async () => {
    const before = { ...calls }
    await new Promise((resolve) => setTimeout(resolve, 300))
    return calls.store === before.store && calls.docker === before.docker ? true : undefined
  })
  t.ok(settled, 'background reconciles of the deploys are done')
  calls.store = 0
  calls.docker = 0

  const [first, second] = names as [string, string]
  const listedNames = (reply: Awaited<ReturnType<typeof agent.client.listToolStatus>>) =>
    reply.status === 200 ? reply.body.data.map((tool) => tool.instance_name_on_toolbox).filter((name) => names.includes(name)) : []
  const statusOf = async (name: string) => {
    const reply = await agent.client.getTool({ params: { name } })
    return reply.status === 200 ? reply.body.data.status : undefined
  }
  for (let i = 0; i < 50; i++) {
    t.same(listedNames(await agent.client.listToolStatus()), [first, second].sort((a, b) => a.localeCompare(b)))
    t.equal(await statusOf(first), 'running')
  }
  t.same(calls, { store: 0, docker: 0 }, '100 polls read neither the store nor Docker')

  t.equal((await agent.client.stopTool({ params: { name: first } })).status, 200)
  t.equal(await statusOf(first), 'stopped', 'the poll after a stop sees it at once')
  const listed = await agent.client.listToolStatus()
  t.equal(listed.status === 200 ? listed.body.data.find((tool) => tool.instance_name_on_toolbox === first)?.status : undefined, 'stopped', 'and so does the list')
  t.equal(await statusOf(second), 'running')
})
