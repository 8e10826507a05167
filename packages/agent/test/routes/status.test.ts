// /status and /health never fail: a Docker outage is `degraded`, and the
// Docker routes answer 503 with Retry-After instead of a 500.
import t from 'tap'
import { DockerRuntime } from '../../src/runtime/docker-runtime.ts'
import { authHeaders, startTestAgent, tempDir } from '../helpers/agent.ts'

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

t.test('DTMA_PUBLIC_STATUS=minimal hides instances and metrics from callers without a token', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_PUBLIC_STATUS: 'minimal' } })
  const anonymous = await (await fetch(`${agent.baseUrl}/status`)).json()
  t.equal(anonymous.status, 'healthy')
  t.notOk('tool_instances' in anonymous)
  t.notOk('system_metrics' in anonymous)
  const wrongToken = await (await fetch(`${agent.baseUrl}/status`, { headers: authHeaders('wrong') })).json()
  t.notOk('tool_instances' in wrongToken)
  const withToken = await fetch(`${agent.baseUrl}/status`, { headers: authHeaders() })
  t.equal(withToken.status, 200)
  const full = await withToken.json()
  t.ok(Array.isArray(full.tool_instances))
  t.type(full.system_metrics?.cpu_load_percent, 'number')
})
