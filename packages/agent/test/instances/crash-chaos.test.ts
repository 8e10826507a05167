// kill -9 of the agent at random points during deploy and delete: after a
// restart there is no orphan and no duplicate container, and every instance
// is in a consistent desired state (the journal finishes or rolls back).
import t from 'tap'
import { docker, freePort, removeInstances, tempDir, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'

const ROUNDS = 20

/** Seeded, so a failing round can be replayed. */
function prng(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test(`kill -9 at ${ROUNDS} random points during deploy and delete`, async (t) => {
  const seed = Number(process.env.DTMA_CHAOS_SEED ?? 20261123)
  const random = prng(seed)
  t.comment(`seed ${seed} (DTMA_CHAOS_SEED replays it)`)
  const dataDir = tempDir(t)
  const port = await freePort()
  const names: string[] = []
  t.teardown(() => removeInstances(names))

  let agent: AgentProcess = spawnAgent(dataDir, port)
  t.teardown(() => agent.kill())
  await agent.ready()
  const outcomes: Record<string, number> = {}

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
    const body = {
      dockerImageUrl: TEST_IMAGE,
      instanceNameOnToolbox: name,
      accountToolInstanceId: `ati-chaos-${round}`,
      baseConfigOverrideJson: { Env: [`ROUND=${round}`] }
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
    const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${name}`] } })
    const one = await agent.client.getTool({ params: { name } })
    const label = `round ${round} (${operation}, killed after ${delay} ms)`
    t.ok(containers.length <= 1, `${label}: no duplicate container`)
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
