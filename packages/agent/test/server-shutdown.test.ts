// Graceful shutdown of the real binary: a SIGTERM during a slow operation (a
// stop of a tool that ignores SIGTERM, so Docker waits its whole stop timeout)
// lets the operation finish and answer before a clean exit, and refuses new
// requests with the contract's 503 meanwhile; a second signal exits at once;
// an operation longer than the shutdown budget does not hold the exit, nor
// does a connection whose request never ends.
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect } from 'node:net'
import { ErrorBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { authHeaders, docker, freePort, removeInstances, tempDir } from './helpers/agent.ts'
import { spawnAgent, type AgentProcess } from './helpers/agent-process.ts'
import { ensureStubbornImage } from './helpers/images.ts'

const STOP_SECONDS = 3

async function agentWithStubbornTool(t: { teardown(fn: () => unknown): void }, env: Record<string, string> = {}): Promise<{ agent: AgentProcess; name: string; containerId: string }> {
  const image = await ensureStubbornImage()
  const agent = spawnAgent(tempDir(t), await freePort(), { DTMA_STOP_TIMEOUT_S: String(STOP_SECONDS), ...env })
  t.teardown(() => agent.kill())
  await agent.ready()
  const name = `Stubborn ${randomBytes(4).toString('hex')}`
  t.teardown(() => removeInstances([name]))
  const deployed = await agent.client.deployTool({ body: { dockerImageUrl: image, instanceNameOnToolbox: name, accountToolInstanceId: 'ati-stubborn' } })
  if (deployed.status !== 201) throw new Error(`deploy answered ${deployed.status}`)
  return { agent, name, containerId: deployed.body.data.container_id }
}

const exitOf = async (agent: AgentProcess): Promise<{ code: number | null; ms: number }> => {
  const started = Date.now()
  const [code] = (await once(agent.child, 'exit')) as [number | null]
  return { code, ms: Date.now() - started }
}

t.test('SIGTERM during a slow stop: the stop finishes and answers, then a clean exit', async (t) => {
  const { agent, name, containerId } = await agentWithStubbornTool(t)
  const started = Date.now()
  const stopping = agent.client.stopTool({ params: { name } })
  await new Promise((resolve) => setTimeout(resolve, 500))
  const exited = exitOf(agent)
  agent.child.kill('SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const refused = await fetch(`${agent.baseUrl}/tools`, { headers: authHeaders() }).then(
    async (response) => ({ status: response.status, body: (await response.json()) as unknown }),
    () => undefined
  )
  if (refused !== undefined) {
    t.equal(refused.status, 503, 'a request during the drain is refused')
    t.ok(Value.Check(ErrorBody, refused.body), 'with the contract error body')
  } else t.pass('the listener was already closed to new connections')

  const stopped = await stopping
  t.equal(stopped.status, 200, 'the in-flight stop answered')
  t.ok(Date.now() - started >= STOP_SECONDS * 1000 - 200, 'after Docker waited out the stop timeout')
  const { code } = await exited
  t.equal(code, 0, 'clean exit')
  t.equal((await docker.getContainer(containerId).inspect()).State.Status, 'exited', 'the container is stopped')
  t.match(agent.output(), /"msg":"shutdown: drained"/)
})

t.test('a second signal exits at once', async (t) => {
  // A 20 s stop in flight: exiting at once is told from waiting it out by a wide margin, however loaded the machine.
  const { agent, name } = await agentWithStubbornTool(t, { DTMA_STOP_TIMEOUT_S: '20' })
  const stopping = agent.client.stopTool({ params: { name } }).catch(() => undefined)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const exited = exitOf(agent)
  agent.child.kill('SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 100))
  agent.child.kill('SIGTERM')
  const { code, ms } = await exited
  t.equal(code, 1, 'exit code 1')
  t.ok(ms < 10_000, `exited in ${ms} ms, long before the 20 s stop`)
  t.match(agent.output(), /second signal: exiting now/)
  await stopping
})

t.test('an operation longer than the shutdown budget does not hold the exit', async (t) => {
  const { agent, name } = await agentWithStubbornTool(t, { DTMA_STOP_TIMEOUT_S: '20', DTMA_SHUTDOWN_TIMEOUT_S: '1' })
  const stopping = agent.client.stopTool({ params: { name } }).catch(() => undefined)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const exited = exitOf(agent)
  agent.child.kill('SIGTERM')
  const { code, ms } = await exited
  t.ok(ms < 12_000, `exited in ${ms} ms with a 1 s budget and a 20 s stop`)
  t.equal(code, 0, 'the flush steps still ran: exit 0')
  t.match(agent.output(), /shutdown step did not finish within the budget/)
  await stopping
})

/** An agent with one connection open that sent `opening` (or nothing), then SIGTERM: its exit. */
async function exitWithConnection(t: { teardown(fn: () => unknown): void }, opening: string | Buffer | undefined): Promise<{ agent: AgentProcess; code: number | null; ms: number }> {
  const port = await freePort()
  const agent = spawnAgent(tempDir(t), port)
  t.teardown(() => agent.kill())
  await agent.ready()
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  if (opening !== undefined) socket.write(opening)
  socket.on('error', () => undefined)
  t.teardown(() => socket.destroy())
  await new Promise((resolve) => setTimeout(resolve, 200))
  const exited = exitOf(agent)
  agent.child.kill('SIGTERM')
  return { agent, ...(await exited) }
}

t.test('a connection whose request never ends does not hold the exit', async (t) => {
  // Headers begun and never finished: Node counts the connection as busy, so
  // closing the listener alone would wait for it until the request timeout (30 s).
  const { agent, code, ms } = await exitWithConnection(t, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n')
  t.equal(code, 0, `a clean exit, in ${ms} ms`)
  t.match(agent.output(), /"connections":1,"msg":"shutdown: closing the connections still open"/)
  t.notMatch(agent.output(), /shutdown took too long/)
})

// The agent's one port reads a connection's first byte before it knows HTTP from TLS: a connection
// that sends nothing, or stops inside its TLS handshake, is not yet node:http's, and must not hold
// the exit either (it held it for the 30 s first-byte limit before the one-port server closed them).
for (const [what, opening] of [
  ['sends nothing', undefined],
  ['stops inside its TLS handshake', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])]
] as const) {
  t.test(`a connection that ${what} does not hold the exit`, async (t) => {
    const { agent, code, ms } = await exitWithConnection(t, opening)
    t.equal(code, 0, `a clean exit, in ${ms} ms`)
    t.notMatch(agent.output(), /shutdown took too long/)
  })
}
