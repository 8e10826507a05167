// kill -9 of the agent at random points during deploy and delete: after a
// restart there is no orphan and no duplicate container, counted by DTMA's
// labels (of any scope) and by the host port the instance holds (any
// container bound to it, running or not), and every instance is in a
// consistent desired state (the journal finishes or rolls back). The
// take-over steps have their own (test/fleet/take-over-chaos.test.ts).
import t from 'tap'
import { freePort, removeInstances, scopeFor, tempDir, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import { prng, sleep } from '../helpers/chaos.ts'
import { countOnPort, labelledWith, removeScope } from '../helpers/containers.ts'

const ROUNDS = 20

t.test(`kill -9 at ${ROUNDS} random points during deploy and delete`, async (t) => {
  const seed = Number(process.env.DTMA_CHAOS_SEED ?? 20261123)
  const random = prng(seed)
  t.comment(`seed ${seed} (DTMA_CHAOS_SEED replays it)`)
  const dataDir = tempDir(t)
  const port = await freePort()
  const names: string[] = []

  let agent: AgentProcess = spawnAgent(dataDir, port)
  // The agent first, then all it made: a living agent would make again what is removed under it.
  t.teardown(async () => (await agent.kill(), await removeInstances(names), await removeScope(scopeFor(dataDir))))
  await agent.ready()
  const outcomes: Record<string, number> = {}
  const since = Math.floor(Date.now() / 1000) - 1

  // Calibrate: kill points are drawn within how long each operation takes here.
  const calibration = uniqueName('Chaos Calibration')
  names.push(calibration)
  const calibrationBody = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: calibration, accountToolInstanceId: 'ati-chaos-calibration' }
  let started = Date.now()
  t.equal((await agent.client.deployTool({ body: calibrationBody })).status, 201)
  const durationMs: Record<string, number> = { deploy: Date.now() - started }
  started = Date.now()
  t.equal((await agent.client.removeTool({ params: { name: calibration } })).status, 200)
  durationMs.delete = Date.now() - started
  t.comment(`operation durations: ${JSON.stringify(durationMs)} ms`)

  for (let round = 0; round < ROUNDS; round++) {
    const name = uniqueName(`Chaos ${round}`)
    names.push(name)
    const hostPort = await freePort()
    const body = {
      dockerImageUrl: TEST_IMAGE,
      instanceNameOnToolbox: name,
      accountToolInstanceId: `ati-chaos-${round}`,
      baseConfigOverrideJson: { Env: [`ROUND=${round}`], HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: String(hostPort) }] } } }
    }
    const operation = round % 2 === 0 ? 'deploy' : 'delete'
    if (operation === 'delete') t.equal((await agent.client.deployTool({ body })).status, 201, `round ${round}: deployed before the delete`)

    const delay = Math.floor(random() * (durationMs[operation] as number))
    const inFlight = operation === 'deploy' ? agent.client.deployTool({ body }) : agent.client.removeTool({ params: { name } })
    inFlight.catch(() => undefined) // the agent dies under it
    await sleep(delay)
    await agent.kill('SIGKILL')

    agent = spawnAgent(dataDir, port)
    await agent.ready()
    const containers = await labelledWith(name)
    const onPort = await countOnPort(hostPort, since)
    const one = await agent.client.getTool({ params: { name } })
    const label = `round ${round} (${operation}, killed after ${delay} ms)`
    t.equal(onPort, containers.length, `${label}: the containers on its host port are the ones labelled with it`)
    if (one.status === 200) {
      outcomes[`${operation}: kept`] = (outcomes[`${operation}: kept`] ?? 0) + 1
      t.equal(containers.length, 1, `${label}: the instance has its container`)
      t.equal(one.body.data.container_id, containers[0]?.Id, `${label}: and it is the one in Docker`)
      t.match(one.body.data, { status: 'running', desired_state: 'running', docker_status: 'running' }, `${label}: running as desired`)
    } else {
      outcomes[`${operation}: gone`] = (outcomes[`${operation}: gone`] ?? 0) + 1
      t.equal(one.status, 404, `${label}: unknown to the agent`)
      t.equal(containers.length, 0, `${label}: no orphan container`)
    }
  }
  t.comment(`outcomes: ${JSON.stringify(outcomes)}`)
})

