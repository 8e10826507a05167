// POST /redeploy on a real agent and a real Docker engine. The agent's "own
// container" (DTMA_AGENT_CONTAINER) is a container of a stand-in image whose
// `dtma-upgrade` writes upgrade events and waits for the test's word, so the
// helper runs exactly as long as the test needs. Covered: two calls sent at
// once (one 202, one 409), the helper followed to its end and removed, a
// helper Docker cannot start (502, nothing left, the next call not refused),
// and an agent starting while a helper runs follows the helper its data dir
// names, and no other agent's.
import t from 'tap'
import { TEST_IMAGE } from '../helpers/agent.ts'
import { agentIn, ensureStandinImage, helpersOf, release, selfContainer, STANDIN, upgradeEvents } from '../helpers/upgrade-standin.ts'
import { waitFor } from '../helpers/wait.ts'

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

  // The agent after an upgrade: the same container name and data volume, a fresh process.
  await first.app.close()
  const after = await agentIn(t, self, first.dataDir)
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
