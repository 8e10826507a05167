// GET /metrics on a real agent: bearer only, Prometheus text with request
// counts by route and status, Docker operation latency by kind, instances
// by status, reconcile repairs, and metrics other modules register.
import t from 'tap'
import { authHeaders, docker, startTestAgent, TOKEN, uniqueName, VM_TOKEN } from '../helpers/agent.ts'

/** The value of one sample line, e.g. `dtma_instances{status="running"}`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? ''
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) return Number(line.split(' ').at(-1))
  }
  return undefined
}

t.test('metrics: auth, requests, Docker operations, instances, repairs, registered gauges', async (t) => {
  const agent = await startTestAgent(t)
  // What the registry outbox does for its depth: a gauge read at scrape time.
  agent.app.metrics.gauge({
    name: 'test_outbox_depth',
    help: 'registered by another module',
    collect() {
      this.set(7)
    }
  })

  const anonymous = await fetch(`${agent.baseUrl}/metrics`)
  t.equal(anonymous.status, 401, 'metrics need a token')

  const name = uniqueName('Measured')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name, { env: ['API_KEY=never-in-metrics'] }) })
  t.equal(deployed.status, 201)
  await agent.client.getTool({ params: { name: uniqueName('Missing') } })

  // A container removed behind the agent's back is recreated by reconciling.
  await docker.getContainer(deployed.status === 201 ? deployed.body.data.container_id : '').remove({ force: true })
  const deadline = Date.now() + 20_000
  let text = ''
  for (;;) {
    const reply = await fetch(`${agent.baseUrl}/metrics`, { headers: authHeaders() })
    t.equal(reply.status, 200)
    text = await reply.text()
    if ((sample(text, 'dtma_reconcile_repairs_total', { repair: 'recreate' }) ?? 0) >= 1 && sample(text, 'dtma_instances', { status: 'running' }) === 1) break
    if (Date.now() > deadline) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.match(text, /^# TYPE dtma_http_requests_total counter$/m)
  t.equal(sample(text, 'dtma_http_requests_total', { route: 'deployTool', method: 'POST', status: '201' }), 1, 'the deploy is counted by route and status')
  t.equal(sample(text, 'dtma_http_requests_total', { route: 'getTool', status: '404' }), 1, 'so is the 404')
  t.equal(sample(text, 'dtma_http_requests_total', { route: 'metrics', status: '401' }), 1, 'and the refused scrape')
  t.ok((sample(text, 'dtma_http_request_duration_seconds_count', { route: 'deployTool', status: '201' }) ?? 0) >= 1, 'request latency histogram')
  t.ok((sample(text, 'dtma_docker_operation_duration_seconds_count', { operation: 'create', outcome: 'ok' }) ?? 0) >= 2, 'Docker create timed (deploy and recreate)')
  t.ok((sample(text, 'dtma_docker_operation_duration_seconds_count', { operation: 'listManaged', outcome: 'ok' }) ?? 0) >= 1, 'Docker list timed')
  t.equal(sample(text, 'dtma_instances', { status: 'running' }), 1, 'instances by status')
  t.equal(sample(text, 'dtma_instances', { status: 'error' }), 0, 'every status is listed, zero included')
  t.ok((sample(text, 'dtma_reconcile_repairs_total', { repair: 'recreate' }) ?? 0) >= 1, 'the recreate is counted as a repair')
  t.ok((sample(text, 'dtma_reconcile_runs_total', { outcome: 'ok' }) ?? 0) >= 1, 'reconcile runs are counted')
  t.equal(sample(text, 'dtma_test_outbox_depth', {}), 7, 'a gauge registered by another module is scraped')
  t.ok((sample(text, 'dtma_process_resident_memory_bytes', {}) ?? 0) > 0, 'process metrics')
  for (const secret of [TOKEN, VM_TOKEN, 'never-in-metrics', 'API_KEY']) t.notOk(text.includes(secret), 'no secret in metrics')
  t.notOk(text.includes(name), 'no instance names as labels (one series per route, not per URL)')
})
