// POST /redeploy on a real agent and a real Docker engine. The agent's "own
// container" (DTMA_AGENT_CONTAINER) is a container of a stand-in image whose
// `dtma-upgrade` writes upgrade events and waits for the test's word, so the
// helper runs exactly as long as the test needs. Covered: two calls sent at
// once (one 202, one 409), the helper followed to its end and removed, a
// helper Docker cannot start (502, nothing left, the next call not refused),
// and an agent starting while a helper runs follows its own helpers only.
import { randomBytes } from 'node:crypto'
import { readServerSentEvents, type UpgradeEvent } from '@dtma/contract'
import t, { type Test } from 'tap'
import { docker, startTestAgent, tempDir, TEST_IMAGE, type TestAgent } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const STANDIN = `dtma-test/upgrade-standin:v2`
const OPERATION_LABEL = 'dtma.upgrade-operation'

// The helper's command is `dtma-upgrade --json ... --operation-id ID`; the
// stand-in prints lines an agent must skip, then a running and a done event,
// and waits for /go-on in between (at most a minute).
const SCRIPT = [
  'op=""; while [ $# -gt 0 ]; do [ "$1" = --operation-id ] && op="$2"; shift; done',
  'ev() { echo "{\\"operation_id\\":\\"$op\\",\\"step\\":\\"$1\\",\\"status\\":\\"$2\\",\\"message\\":\\"$3\\",\\"elapsed_ms\\":0,\\"time\\":\\"2026-12-04T00:00:00Z\\"}"; }',
  'echo "not an event"; echo "{\\"operation_id\\":\\"$op\\"}"',
  'ev check running "stand-in upgrader started"',
  'i=0; while [ ! -e /go-on ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done',
  'ev done succeeded "stand-in upgrader finished"'
].join('\n')

async function ensureStandinImage(): Promise<void> {
  if (await docker.getImage(STANDIN).inspect().then(() => true, () => false)) return
  const container = await docker.createContainer({ Image: TEST_IMAGE })
  try {
    const [repo, tag] = STANDIN.split(':') as [string, string]
    await container.commit({ repo, tag, changes: `ENTRYPOINT ${JSON.stringify(['/bin/sh', '-c', SCRIPT, 'dtma-upgrade-standin'])}` })
  } finally {
    await container.remove({ force: true })
  }
}

/** A created (never started) container standing for the agent's own. */
async function selfContainer(t: Test, image: string): Promise<string> {
  const name = `dtma-test-self-${randomBytes(4).toString('hex')}`
  await docker.createContainer({ name, Image: image })
  t.teardown(async () => {
    await docker.getContainer(name).remove({ force: true }).catch(() => undefined)
    const helpers = await docker.listContainers({ all: true, filters: { label: [`dtma.upgrade-agent=${name}`] } })
    await Promise.all(helpers.map((helper) => docker.getContainer(helper.Id).remove({ force: true }).catch(() => undefined)))
  })
  return name
}

function agentIn(t: Test, self: string): Promise<TestAgent> {
  return startTestAgent(t, { env: { DTMA_AGENT_CONTAINER: self, DTMA_BACKUP_DIR: tempDir(t) } })
}

async function helpersOf(self: string): Promise<Array<{ Id: string; State: string; Labels: Record<string, string> }>> {
  return docker.listContainers({ all: true, filters: { label: [`dtma.upgrade-agent=${self}`] } })
}

/** The helper of an operation goes on: the stand-in ends once told. */
async function release(operationId: string): Promise<void> {
  const [helper] = await docker.listContainers({ all: true, filters: { label: [`${OPERATION_LABEL}=${operationId}`] } })
  if (helper === undefined) throw new Error(`no helper for operation ${operationId}`)
  const exec = await docker.getContainer(helper.Id).exec({ Cmd: ['touch', '/go-on'] })
  await exec.start({ hijack: true, stdin: false }).then((stream) => new Promise((resolve) => stream.on('end', resolve).resume()))
}

/** Upgrade events from a stream opened now, until `done` comes (or 30 s). */
async function upgradeEvents(agent: TestAgent, until: (event: UpgradeEvent) => boolean): Promise<UpgradeEvent[]> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 30_000)
  const events: UpgradeEvent[] = []
  try {
    const reply = await agent.client.events({ signal: controller.signal })
    if (reply.status !== 200) throw new Error(`/events answered ${reply.status}`)
    for await (const event of readServerSentEvents(reply.response)) {
      if (event.event !== 'upgrade') continue
      events.push(JSON.parse(event.data) as UpgradeEvent)
      if (until(events.at(-1) as UpgradeEvent)) break
    }
  } catch {
    // aborted: the caller asserts on what came
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  return events
}

t.before(ensureStandinImage)

t.test('two redeploys sent at once: one 202, one 409; the helper is followed to its end and removed', async (t) => {
  const self = await selfContainer(t, STANDIN)
  const agent = await agentIn(t, self)
  const replies = await Promise.all([agent.client.redeployAgent({ body: {} }), agent.client.redeployAgent({ body: {} })])
  t.same(replies.map((reply) => reply.status).sort(), [202, 409], 'exactly one upgrade starts')
  const started = replies.find((reply) => reply.status === 202)
  const refused = replies.find((reply) => reply.status === 409)
  const operationId = started?.status === 202 ? started.body.operation_id : ''
  t.match(refused?.body, { success: false, code: 'DTMA_CONFLICT', error: new RegExp(`operation ${operationId}`) }, 'the refusal names the running operation')
  t.equal((await helpersOf(self)).length, 1, 'one helper container')
  t.equal((await agent.client.redeployAgent({ body: {} })).status, 409, 'still refused while the helper runs')

  const running = await upgradeEvents(agent, (event) => event.status === 'running')
  t.match(running.at(-1), { operation_id: operationId, step: 'check', status: 'running' }, 'a new /events client hears the running upgrade; lines that are no event are skipped')
  await release(operationId)
  const events = await upgradeEvents(agent, (event) => event.step === 'done')
  t.match(events.at(-1), { operation_id: operationId, step: 'done', status: 'succeeded' })
  t.ok(await waitFor(async () => ((await helpersOf(self)).length === 0 ? true : undefined)), 'the ended helper is removed')
  t.ok(agent.logs.some((line) => line.includes('stand-in upgrader finished')), 'the outcome is logged')

  const next = await waitFor(async () => {
    const reply = await agent.client.redeployAgent({ body: {} })
    return reply.status === 409 ? undefined : reply
  })
  t.equal(next?.status, 202, 'after the end the next upgrade may start')
  if (next?.status === 202) await release(next.body.operation_id)
})

t.test('a helper Docker cannot start: 502, no container left, and the next call is not refused', async (t) => {
  // The plain test image has no dtma-upgrade: Docker creates the helper and fails to start it.
  const self = await selfContainer(t, TEST_IMAGE)
  const agent = await agentIn(t, self)
  const first = await agent.client.redeployAgent({ body: {} })
  t.match(first, { status: 502, body: { success: false, code: 'DTMA_DOCKER_ERROR', error: /upgrade helper/ } })
  t.equal((await helpersOf(self)).length, 0, 'the helper that could not start is removed')
  t.equal((await agent.client.redeployAgent({ body: {} })).status, 502, 'the failed attempt left no running upgrade behind')
})

t.test('an agent that starts while a helper runs follows its own helpers only', async (t) => {
  const self = await selfContainer(t, STANDIN)
  const first = await agentIn(t, self)
  const started = await first.client.redeployAgent({ body: {} })
  if (started.status !== 202) throw new Error(`redeploy answered ${started.status}`)
  const operationId = started.body.operation_id

  // The agent after an upgrade: the same container name, a fresh process.
  const after = await agentIn(t, self)
  const heard = await upgradeEvents(after, (event) => event.operation_id === operationId)
  t.match(heard.at(-1), { operation_id: operationId, status: 'running' }, 'the new agent follows the helper it finds')
  t.equal((await after.client.redeployAgent({ body: {} })).status, 409, 'so it refuses a second upgrade')
  const elsewhere = await agentIn(t, await selfContainer(t, STANDIN))
  const own = await elsewhere.client.redeployAgent({ body: {} })
  t.equal(own.status, 202, "another agent's helper is not this agent's upgrade")
  if (own.status === 202) await release(own.body.operation_id)

  await release(operationId)
  const events = await upgradeEvents(after, (event) => event.step === 'done')
  t.match(events.at(-1), { operation_id: operationId, status: 'succeeded' }, 'the new agent reports the outcome')
  t.ok(await waitFor(async () => ((await helpersOf(self)).length === 0 ? true : undefined)), 'and the helper is removed')
})
