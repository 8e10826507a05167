// dockerd stopped and started under a running agent: 503 + Retry-After on
// Docker routes during the outage, /health and /status keep answering, no
// 500 anywhere, and a resync once Docker is back. Runs alone (it stops the
// engine every other test uses): scripts/run-tests.mjs runs test-serial/ last.
import t from 'tap'
import { authHeaders, docker, startTestAgent, uniqueName } from '../test/helpers/agent.ts'
import { dockerUp, keepEngineRunning, restartDockerd, stopDockerd } from './helpers/engine.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe()) return true
    await sleep(200)
  }
  return false
}

t.test('Docker outage and return', async (t) => {
  keepEngineRunning(t)
  const agent = await startTestAgent(t)
  const name = uniqueName('Outage')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name) })).status, 201)

  const stopped = await stopDockerd()
  t.ok(stopped.down, 'dockerd is down')
  t.ok(stopped.exited, 'dockerd has exited')
  t.ok(await until(async () => (await agent.client.ready()).status === 503, 10_000), 'the agent noticed')

  const statuses: number[] = []
  const tools = await fetch(`${agent.baseUrl}/tools/status`, { headers: authHeaders() })
  statuses.push(tools.status)
  t.equal(tools.status, 503)
  t.equal(tools.headers.get('retry-after'), '5')
  t.match(await tools.json(), { success: false, code: 'DTMA_DOCKER_UNAVAILABLE' })
  for (const reply of [
    await agent.client.startTool({ params: { name } }),
    await agent.client.deployTool({ body: agent.deployBody(uniqueName('During Outage')) }),
    await agent.client.getTool({ params: { name } })
  ]) {
    statuses.push(reply.status)
    t.match(reply, { status: 503, body: { success: false } })
  }
  const health = await fetch(`${agent.baseUrl}/health`)
  statuses.push(health.status)
  t.equal(await health.text(), 'OK')
  const status = await agent.client.status()
  statuses.push(status.status)
  t.match(status.body, { status: 'degraded', reason: /unreachable/ })
  t.notOk(statuses.some((code) => code >= 500 && code !== 503), `no 500 (${statuses.join(', ')})`)

  t.ok(await restartDockerd(), 'dockerd is back')
  t.ok(await until(async () => (await agent.client.ready()).status === 200, 60_000), 'the agent resynced and is ready')
  const runsAgain = await until(async () => {
    const one = await agent.client.getTool({ params: { name } })
    return one.status === 200 && one.body.data.docker_status === 'running'
  }, 60_000)
  t.ok(runsAgain, 'the instance runs again')
  // What the agent warned about, to tell why when it does not.
  if (!runsAgain) for (const line of agent.logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 40).slice(-20)) t.comment(line)
  const outageLines = agent.logs.filter((line) => line.includes('Docker unavailable; reconnecting with backoff'))
  t.equal(outageLines.length, 1, 'one log line for the outage, not one per retry')
  t.ok(agent.logs.some((line) => line.includes('Docker is back; resynced')))
})
