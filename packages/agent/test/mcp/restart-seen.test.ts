// Every restart is seen, for http and sse servers too. A server that stays
// broken (its node binary moved away inside the container, so that a restart
// brings back a container with nothing answering in it) is restarted again
// and again, each time after a longer wait, up to the cap; and a restart done
// behind the agent's back (`docker restart`, or a stop and a start that moves
// the container to a new address on the tools' network) changes the view's
// start time, and the MCP side initializes the server again at its address
// as it is now.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { docker, startTestAgent, TEST_IMAGE, uniqueName, type TestAgent } from '../helpers/agent.ts'
import { ensureMcpImages, execIn, MCP_IMAGES, mcpClient, mcpDeployBody, textOf, type McpTransportName } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)
// The cases are independent (an agent, a port range and a container each) and spend their
// time waiting on the agent's backoff and start timeout, not on the CPU: two run side by side,
// the two long ones first (no more than two servers start at once, each within its start timeout).
t.jobs = 2

const IMAGES = { http: MCP_IMAGES.everythingHttp, sse: MCP_IMAGES.everythingSse } as const
// Servers broken for good: past the default file timeout on a loaded machine.
t.setTimeout(600_000)

/** Host ports of each case's own agent: none takes a port another case's stopped container holds. */
const PORT_RANGES = {
  broken: { http: '44700-44724', sse: '44725-44749' },
  moved: { http: '44750-44774', sse: '44775-44799' }
} as const

async function deploy(agent: TestAgent, name: string, transport: 'http' | 'sse'): Promise<string> {
  agent.deployBody(name)
  const deployed = await agent.client.deployTool({ body: { ...mcpDeployBody(name, IMAGES[transport], transport), waitForMcp: true } })
  if (deployed.status !== 201) throw new Error(`deploy answered ${deployed.status}: ${JSON.stringify(deployed.body)}`)
  return deployed.body.data.container_id
}

/** The MCP statuses an instance's published views went through, with `restarted` where its start time changed. */
function recordStatuses(t: { teardown(fn: () => unknown): void }, agent: TestAgent, name: string) {
  const view = agent.instances.get(name)
  const statuses: string[] = [view.mcp?.health.status ?? 'none']
  const starts: Array<{ at: number; startedAt: string }> = [{ at: Date.now(), startedAt: view.startedAt ?? '' }]
  /** What the agent said it would wait before each restart, in seconds. */
  const waits: number[] = []
  const stop = agent.instances.onChange(({ instanceName, view }) => {
    if (instanceName !== name || view === undefined) return
    if (view.startedAt !== null && view.startedAt !== starts.at(-1)?.startedAt) {
      starts.push({ at: Date.now(), startedAt: view.startedAt })
      statuses.push('restarted')
    }
    const health = view.mcp?.health
    if (health !== undefined && statuses.findLast((status) => status !== 'restarted') !== health.status) statuses.push(health.status)
    const said = /restarting its container (now|in (\d+) s) \(restart (\d+)\)/.exec(health?.lastError ?? '')
    if (said !== null && waits.length < Number(said[3])) waits.push(said[2] === undefined ? 0 : Number(said[2]))
  })
  t.teardown(stop)
  return { statuses, starts, waits }
}

async function addressOf(containerId: string): Promise<string> {
  const info = await docker.getContainer(containerId).inspect()
  return Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress ?? ''
}

for (const transport of ['http', 'sse'] as const satisfies McpTransportName[]) {
  t.test(`an ${transport} server that stays broken is restarted again and again, with a growing, bounded backoff`, async (t) => {
    const agent = await startTestAgent(t, {
      env: { DTMA_TOOL_PORT_RANGE: PORT_RANGES.broken[transport], DTMA_MCP_PING_INTERVAL_S: '1', DTMA_MCP_PING_FAILURES: '2', DTMA_MCP_START_TIMEOUT_S: '8', DTMA_MCP_RESTART_BACKOFF_MAX_S: '4' }
    })
    const name = uniqueName(`Broken${transport}`)
    const containerId = await deploy(agent, name, transport)
    t.not(agent.instances.get(name).startedAt, null, 'the view carries when its container started')
    const { statuses, starts, waits } = recordStatuses(t, agent, name)

    // Broken for good: the server dies, and no restart of the container brings it back.
    await execIn(containerId, 'kill -9 $(pidof node); mv /usr/local/bin/node /usr/local/bin/node.off')
    const restarts = 4
    // About 50 s here when quiet; a loaded machine slows every start and ping.
    const done = await waitFor(() => (starts.length > restarts && statuses.at(-1) === 'unresponsive' ? true : undefined), 240_000, 200)
    const gaps = starts.slice(1).map((start, i) => (i === 0 ? 0 : (start.at - (starts[i]?.at ?? 0)) / 1000))
    t.comment(`${transport}: statuses ${statuses.join(' > ')}`)
    t.comment(`${transport}: waits said before each restart (s) ${waits.join(', ')}; measured gaps between restarts (s) ${gaps.slice(1).map((gap) => gap.toFixed(1)).join(', ')}`)
    t.ok(done, `restarted ${starts.length - 1} times (${restarts} looked for) while it stays broken`)

    const sequence = statuses.join(' > ')
    t.match(sequence, /^ready > degraded > unresponsive > restarted/, 'ready, then degraded and unresponsive after the failed pings, then restarted')
    t.notOk(statuses.slice(1).includes('ready'), 'never ready again: nothing answers in it')
    const afterEach = sequence.split(' > restarted').slice(1, restarts)
    t.ok(afterEach.every((part) => /starting.* > unresponsive/.test(part)), 'after every restart the server is initialized again and found unresponsive again')
    t.same(waits.slice(0, restarts), [0, 2, 4, 4], 'the wait before each restart: at once, then doubling from 2 s, capped at DTMA_MCP_RESTART_BACKOFF_MAX_S')
    for (const [i, gap] of gaps.entries()) if (i > 0) t.ok(gap >= (waits[i] ?? 0), `restart ${i + 1} came ${gap.toFixed(1)} s after the one before, not before its ${waits[i]} s wait`)

    t.equal((await docker.getContainer(containerId).inspect()).State.StartedAt, agent.instances.get(name).startedAt, "the view's start time is Docker's")
    const metrics = await agent.client.metrics()
    const counted = Number(/dtma_mcp_restarts_total\{outcome="ok"\} (\d+)/.exec(metrics.status === 200 ? String(metrics.body) : '')?.[1] ?? 0)
    t.ok(counted >= restarts, `every restart is counted (${counted})`)
  })
}

for (const transport of ['http', 'sse'] as const satisfies McpTransportName[]) {
  t.test(`a restart of an ${transport} server behind the agent is seen, and its server reached at its new address`, async (t) => {
    const network = `dtma-test-net-${randomBytes(4).toString('hex')}`
    // Registered first: runs last, after the agent removed its containers.
    t.teardown(() => docker.getNetwork(network).remove().catch(() => undefined))
    const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: PORT_RANGES.moved[transport], DTMA_TOOL_NETWORK: network, DTMA_MCP_PING_INTERVAL_S: '1', DTMA_SELF_HEAL: 'false' } })
    const name = uniqueName(`Moved${transport}`)
    const containerId = await deploy(agent, name, transport)
    const { statuses, starts } = recordStatuses(t, agent, name)
    const container = docker.getContainer(containerId)

    await container.restart({ t: 1 })
    const seen = await waitFor(() => (starts.length > 1 && agent.instances.get(name).mcp?.health.status === 'ready' ? true : undefined), 30_000)
    t.ok(seen, '`docker restart`: a new start time in the view, and the server ready again')
    t.equal(starts.at(-1)?.startedAt, (await container.inspect()).State.StartedAt, "the view's start time is Docker's")
    t.match(statuses.join(' > '), /restarted.* > starting > ready$/, `initialized again after the restart (${statuses.join(' > ')})`)
    const client = await mcpClient(agent.baseUrl, name)
    t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'after restart' } })), /after restart/, 'a client is served after it')
    await client.close()

    // A stop and a start behind the agent (its self-heal off, so that it does not start it first),
    // with another container taking its address meanwhile.
    const before = await addressOf(containerId)
    await container.stop({ t: 1 })
    const filler = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sleep', '300'], HostConfig: { NetworkMode: network } })
    t.teardown(() => filler.remove({ force: true }).catch(() => undefined))
    await filler.start()
    await container.start()
    const after = await addressOf(containerId)
    t.comment(`${transport}: address before ${before}, after ${after}; statuses ${statuses.join(' > ')}`)
    t.not(after, before, 'the container came back at another address')
    const ready = await waitFor(() => (agent.instances.get(name).startedAt === starts.at(-1)?.startedAt && starts.length > 2 && agent.instances.get(name).mcp?.health.status === 'ready' ? true : undefined), 30_000)
    t.ok(ready, 'the server is ready again, reached at its new address')
    const again = await mcpClient(agent.baseUrl, name)
    t.teardown(() => again.close())
    t.match(textOf(await again.callTool({ name: 'echo', arguments: { message: 'moved' } })), /moved/, 'and a client is served there through the agent')
  })
}
