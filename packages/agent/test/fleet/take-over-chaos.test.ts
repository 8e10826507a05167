// kill -9 of the agent at random points during each way a take-over of an
// earlier agent's container starts: a deploy or a start naming it, and the
// labelled ones at the agent's own start. The earlier containers ignore
// SIGTERM (busybox httpd as PID 1), so a take-over spends most of its time
// stopping the old one and a kill lands on every step. After a restart there
// is exactly one container on the host port the old one held (any container
// bound to it, running or not) and at most one labelled with the instance:
// the new one, running, the old one gone; or the old one, running as it was.
import t from 'tap'
import { docker, freePort, scopeFor, tempDir, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import { logLinesAbout, prng, sleep, watchContainerEvents } from '../helpers/chaos.ts'
import { labelledWith, onHostPort, removeScope } from '../helpers/containers.ts'
import { earlierAgentTool, legacyName, type EarlierTool } from '../helpers/earlier-agent.ts'
import { ensureHttpdPid1Image } from '../helpers/images.ts'
import { waitFor } from '../helpers/wait.ts'

const TAKE_OVER_ROUNDS = 9
type TakeOverKind = 'deploy' | 'start' | 'at agent start'

// Nine kills, restarts and take-overs (a labelled one settles for up to a minute): on a loaded
// machine this file takes four to five minutes, past the suite's five.
t.setTimeout(600_000)

t.test(`kill -9 at ${TAKE_OVER_ROUNDS} random points during take-overs of the earlier agent's containers`, async (t) => {
  const seed = Number(process.env.DTMA_CHAOS_SEED ?? 20261204)
  const random = prng(seed)
  t.comment(`seed ${seed} (DTMA_CHAOS_SEED replays it)`)
  const image = await ensureHttpdPid1Image()
  const dockerEvents = await watchContainerEvents(docker)
  t.teardown(() => dockerEvents.stop())
  const since = Math.floor(Date.now() / 1000) - 1
  const dataDir = tempDir(t)
  const port = await freePort()
  // Every agent of this test takes the labelled containers over at its start.
  const agents: AgentProcess[] = []
  const spawn = () => {
    const spawned = spawnAgent(dataDir, port, { DTMA_ADOPT_LABELLED: 'true' })
    agents.push(spawned)
    return spawned
  }
  let agent: AgentProcess = spawn()
  // The agent first, then all it made: a living agent would make again what is removed under it.
  t.teardown(async () => (await agent.kill(), await removeScope(scopeFor(dataDir))))
  await agent.ready()
  const outcomes: Record<string, number> = {}

  const earlier = async (kind: TakeOverKind, round: number): Promise<EarlierTool> => {
    const name = legacyName(`chaos-${round}`)
    const mcpLabels = kind === 'at agent start' ? { instanceName: uniqueName(`Chaos Labelled ${round}`) } : undefined
    return earlierAgentTool(t, { name, hostPort: await freePort(), image, env: [`ROUND=${round}`], ...(mcpLabels !== undefined && { mcpLabels }) })
  }
  const deployOf = (tool: EarlierTool) => ({ body: { dockerImageUrl: image, instanceNameOnToolbox: tool.instanceName, accountToolInstanceId: `ati-${tool.name}` } })

  // Calibrate: a take-over here takes about one stop timeout (the old process ignores SIGTERM) plus Docker's work.
  const calibration = await earlier('deploy', -1)
  let started = Date.now()
  t.equal((await agent.client.deployTool(deployOf(calibration))).status, 201, 'calibration: taken over')
  const takeOverMs = Date.now() - started
  t.comment(`a take-over takes ${takeOverMs} ms here`)

  for (let round = 0; round < TAKE_OVER_ROUNDS; round++) {
    const kind = (['deploy', 'start', 'at agent start'] as const)[round % 3] as TakeOverKind
    const roundStart = Date.now()
    const failedBefore = t.assertTotals.fail
    const tool = await earlier(kind, round)
    const delay = Math.floor(random() * takeOverMs)
    if (kind === 'at agent start') {
      await agent.kill('SIGKILL')
      agent = spawn()
      await agent.ready()
    } else {
      const inFlight = kind === 'deploy' ? agent.client.deployTool(deployOf(tool)) : agent.client.startTool({ params: { name: tool.instanceName } })
      inFlight.catch(() => undefined) // the agent dies under it
    }
    await sleep(delay)
    await agent.kill('SIGKILL')
    agent = spawn()
    await agent.ready()

    const label = `round ${round} (take-over by ${kind}, killed after ${delay} ms)`
    // A labelled one is taken over again in the background after a rollback (journalled before the
    // agent is ready, so listed at once): wait until it runs, or is unknown (that take-over failed too).
    const settle = kind === 'at agent start' ? 60_000 : 0
    const settled = await waitFor(async () => {
      const got = await agent.client.getTool({ params: { name: tool.instanceName } })
      return settle === 0 || got.status === 404 || (got.status === 200 && got.body.data.status === 'running') ? got : undefined
    }, settle)
    // Not settled within the settle: judged as it is then.
    const one = settled ?? (await agent.client.getTool({ params: { name: tool.instanceName } }))
    const holders = await onHostPort(tool.hostPort, since)
    const labelled = await labelledWith(tool.instanceName)
    const old = await docker.getContainer(tool.id).inspect().catch(() => undefined)
    t.equal(holders.length, 1, `${label}: exactly one container on the host port it held`)
    if (one?.status === 200) {
      outcomes[`${kind}: taken over`] = (outcomes[`${kind}: taken over`] ?? 0) + 1
      t.equal(labelled.length, 1, `${label}: one container labelled with the instance`)
      t.equal(holders[0]?.Id, labelled[0]?.Id, `${label}: and it is the one on the port`)
      t.equal(one.body.data.container_id, labelled[0]?.Id, `${label}: the agent reports it`)
      t.match(one.body.data, { status: 'running', desired_state: 'running', ports: [{ host_port: tool.hostPort }] }, `${label}: running, on the old one's port`)
      t.equal(old, undefined, `${label}: the old container is gone`)
    } else {
      outcomes[`${kind}: rolled back`] = (outcomes[`${kind}: rolled back`] ?? 0) + 1
      t.equal(one?.status, 404, `${label}: unknown to the agent`)
      t.equal(labelled.length, 0, `${label}: no container labelled with it`)
      t.equal(holders[0]?.Id, tool.id, `${label}: the old container holds its port`)
      t.equal(old?.State.Running, true, `${label}: running as it was`)
    }
    if (t.assertTotals.fail > failedBefore) {
      t.comment(`${label}: seen ${one.status} ${one.status === 200 ? one.body.data.status : ''}; the agents' log since the round began (agent N: the Nth agent of this test), about ${tool.name} (${tool.id.slice(0, 12)}), and Docker's events of its containers`)
      const lines = [...logLinesAbout(agents.map((each) => each.output()), [tool.instanceName, tool.name, tool.id], roundStart), ...dockerEvents.about([tool.name, tool.instanceName], [tool.id], roundStart)]
      const at = (line: string) => Number(/ \+(-?\d+)ms /.exec(line)?.[1] ?? 0)
      for (const line of lines.sort((a, b) => at(a) - at(b))) t.comment(line)
    }
  }
  t.comment(`outcomes: ${JSON.stringify(outcomes)}`)
})
