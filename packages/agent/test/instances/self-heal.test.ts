// Docker events keep the index current and self-heal repairs what happens
// behind DTMA's back: a removed container is recreated, a killed one runs again.
import { createServer } from 'node:net'
import t from 'tap'
import { docker, freePort, startTestAgent, type TestAgent, uniqueName } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

async function runningContainer(agent: TestAgent, name: string, notId?: string): Promise<string | undefined> {
  const one = await agent.client.getTool({ params: { name } })
  if (one.status !== 200 || one.body.data.docker_status !== 'running' || one.body.data.container_id === notId) return undefined
  return one.body.data.container_id
}

t.test('docker rm -f behind the agent: recreated from the store', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Removed Behind')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name, { env: ['API_KEY=recreate-me'] }) })
  if (deployed.status !== 201) return t.fail(`deploy answered ${deployed.status}`)
  const oldId = deployed.body.data.container_id
  await docker.getContainer(oldId).remove({ force: true })
  const newId = await waitFor(() => runningContainer(agent, name, oldId))
  t.ok(newId, 'a new container runs')
  const inspected = await docker.getContainer(newId as string).inspect()
  t.ok(inspected.Config.Env.includes('API_KEY=recreate-me'), 'with the stored env')
  t.ok(agent.logs.some((line) => line.includes('recreated a container that was removed behind DTMA')))
})

t.test('docker kill behind the agent: running again', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Killed Behind')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name) })
  if (deployed.status !== 201) return t.fail(`deploy answered ${deployed.status}`)
  await docker.getContainer(deployed.body.data.container_id).kill()
  const events: string[] = []
  const running = await waitFor(async () => {
    const one = await agent.client.getTool({ params: { name } })
    if (one.status === 200) events.push(one.body.data.docker_status)
    return one.status === 200 && one.body.data.docker_status === 'running' && (await docker.getContainer(deployed.body.data.container_id).inspect()).State.Running ? true : undefined
  })
  t.ok(running, `running again (states seen: ${[...new Set(events)].join(', ')})`)
})

t.test('docker stop behind the agent: what should run runs again; what should not stays stopped', async (t) => {
  const agent = await startTestAgent(t)
  const [keepRunning, keepStopped] = [uniqueName('Should Run'), uniqueName('Should Stop')]
  const a = await agent.client.deployTool({ body: agent.deployBody(keepRunning) })
  const b = await agent.client.deployTool({ body: agent.deployBody(keepStopped) })
  if (a.status !== 201 || b.status !== 201) return t.fail('deploys failed')
  await agent.client.stopTool({ params: { name: keepStopped } })
  await docker.getContainer(a.body.data.container_id).stop({ t: 1 })
  t.ok(await waitFor(() => runningContainer(agent, keepRunning)), 'restarted')
  await docker.getContainer(b.body.data.container_id).start()
  const stoppedAgain = await waitFor(async () => ((await docker.getContainer(b.body.data.container_id).inspect()).State.Status === 'exited' ? true : undefined))
  t.ok(stoppedAgain, 'stopped again: desired is stopped')
})

t.test('a repair Docker refuses is tried again within seconds, not only at the next resync', async (t) => {
  const hostPort = await freePort()
  const first = await startTestAgent(t)
  const name = uniqueName('Retried Repair')
  const deployed = await first.client.deployTool({ body: first.deployBody(name, { hostPort }) })
  if (deployed.status !== 201) return t.fail(`deploy answered ${deployed.status}`)
  await first.app.close()
  // While no agent runs, the container stops and something else takes its host port.
  await docker.getContainer(deployed.body.data.container_id).stop({ t: 1 })
  const squatter = createServer()
  await new Promise<void>((resolve) => squatter.listen(hostPort, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())))

  // A resync interval far beyond the test: only the retry can repair it.
  const second = await startTestAgent(t, { dataDir: first.dataDir, env: { DTMA_RESYNC_INTERVAL_S: '3600' } })
  const refused = await waitFor(async () => (second.logs.some((line) => line.includes('reconcile failed; retrying')) ? true : undefined))
  t.ok(refused, 'the first repair failed: the port is taken')
  t.not((await docker.getContainer(deployed.body.data.container_id).inspect()).State.Status, 'running')
  await new Promise<void>((resolve) => squatter.close(() => resolve()))
  t.ok(await waitFor(() => runningContainer(second, name)), 'running again once the port is free')
  const retries = second.logs.filter((line) => line.includes('reconcile failed; retrying')).map((line) => (JSON.parse(line) as { retryInMs: number }).retryInMs)
  t.same(retries, retries.map((_, i) => 1000 * 2 ** i), `backoff doubles (${retries.join(', ')} ms)`)
})

t.test('concurrent identical deploys give one container', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Concurrent')
  const body = agent.deployBody(name)
  const replies = await Promise.all(Array.from({ length: 10 }, () => agent.client.deployTool({ body })))
  const statuses = replies.map((reply) => reply.status).sort()
  t.same(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 201])
  const ids = new Set(replies.map((reply) => (reply.status === 200 || reply.status === 201 ? reply.body.data.container_id : '')))
  t.equal(ids.size, 1, 'every reply names the same container')
  t.equal((await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${name}`] } })).length, 1)
})

t.test('50 concurrent mixed operations on one name: one container, final state = last accepted operation', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Mixed')
  const body = agent.deployBody(name)
  const kinds = ['deploy', 'start', 'stop', 'restart', 'remove'] as const
  // A fixed pseudo-random sequence so a failure can be replayed.
  let seed = 42
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
  const sequence = Array.from({ length: 50 }, () => kinds[next() % kinds.length] as (typeof kinds)[number])
  t.equal((await agent.client.deployTool({ body })).status, 201)
  // Sent 3 ms apart: all 50 are in flight together (one Docker operation takes
  // longer), yet they reach the agent in roughly this order.
  const calls = sequence.map(async (kind, i) => {
    await new Promise((resolve) => setTimeout(resolve, i * 3))
    switch (kind) {
      case 'deploy':
        return agent.client.deployTool({ body })
      case 'start':
        return agent.client.startTool({ params: { name } })
      case 'stop':
        return agent.client.stopTool({ params: { name } })
      case 'restart':
        return agent.client.restartTool({ params: { name } })
      case 'remove':
        return agent.client.removeTool({ params: { name } })
    }
  })
  // Operations on one name run one at a time in the order they reached the
  // agent, which concurrent connections do not fix; each answer leaves when
  // its operation is done, so the order answers arrive in is that order.
  const completed: number[] = []
  const replies = await Promise.all(calls.map((call, i) => call.then((reply) => (completed.push(i), reply))))
  t.same(replies.filter((reply) => ![200, 201, 404].includes(reply.status)), [], 'only 200, 201 and 404')
  const accepted = completed.filter((i) => replies[i]?.status !== 404)
  t.ok(new Set(accepted.map((i) => sequence[i])).size >= 3, 'several kinds of operation were accepted')
  const lastAccepted = sequence[accepted.at(-1) as number]
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${name}`] } })
  const one = await agent.client.getTool({ params: { name } })
  if (lastAccepted === 'remove') {
    t.equal(containers.length, 0, 'removed last: no container')
    t.equal(one.status, 404)
  } else {
    t.equal(containers.length, 1, 'exactly one container')
    const expected = lastAccepted === 'stop' ? 'exited' : 'running'
    t.equal(containers[0]?.State, expected, `last accepted was ${lastAccepted}`)
    t.match(one, { status: 200, body: { data: { desired_state: lastAccepted === 'stop' ? 'stopped' : 'running' } } })
  }
  t.comment(`accepted ${accepted.length} of 50; execution order tail: ${accepted.slice(-5).map((i) => sequence[i]).join(', ')}`)
})
