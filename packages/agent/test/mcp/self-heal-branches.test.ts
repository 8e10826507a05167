// The branches of MCP self-heal that the Docker tests do not reach, each on
// its own: the health monitor against a real SDK server (over the SDK's
// in-memory transport) that stops answering, never answers initialize, or
// fails its listing; the self-heal's backoff, cap and the cases where it must
// not restart (off, answered again, stopped by a user, forgotten, a restart
// under way); the health board's rule of what is told at once.
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import pino from 'pino'
import t from 'tap'
import { McpHealthBoard } from '../../src/mcp/health-board.ts'
import { HealthMonitor, type MonitorTarget } from '../../src/mcp/monitor.ts'
import { McpSelfHeal } from '../../src/mcp/self-heal.ts'
import type { InstanceView } from '../../src/instances/view.ts'
import { waitFor } from '../helpers/wait.ts'

const logger = pino({ level: 'silent' })

/** A real SDK server per initialize, that can be made to stop answering, to never answer, or to fail its listing. */
function serverTarget() {
  const state = { unreachable: false, mute: false, listFails: false, lost: 0, servers: [] as Server[] }
  const target: MonitorTarget = {
    capabilities: {},
    connect: async () => {
      if (state.unreachable) throw new Error('connection refused')
    },
    lost: () => {
      state.lost += 1
    },
    transport: () => {
      const [client, server] = InMemoryTransport.createLinkedPair()
      const mcp = new Server({ name: 'branches', version: '1.0.0' }, { capabilities: { tools: {} } })
      mcp.setRequestHandler(ListToolsRequestSchema, () => {
        if (state.listFails) throw new Error('listing broke')
        return { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] }
      })
      if (!state.mute) void mcp.connect(server)
      state.servers.push(mcp)
      return client
    }
  }
  return { state, target }
}

function monitorOf(t: { teardown(fn: () => unknown): void }, target: MonitorTarget, options: { startTimeoutMs?: number } = {}) {
  const board = new McpHealthBoard()
  const statuses: string[] = []
  const unresponsive: string[] = []
  board.onChange((name) => {
    const status = board.health(name)?.status ?? ''
    if (statuses.at(-1) !== status) statuses.push(status)
  })
  const monitor = new HealthMonitor({
    instanceName: 'unit',
    target,
    board,
    pingIntervalMs: 30,
    pingFailures: 2,
    startTimeoutMs: options.startTimeoutMs ?? 2000,
    version: 'test',
    logger,
    observer: { pinged: () => undefined },
    unresponsive: (reason) => unresponsive.push(reason)
  })
  t.teardown(() => monitor.close())
  return { board, monitor, statuses, unresponsive }
}

t.test('monitor: a server that stops answering is degraded, then unresponsive, said again after every failed check; the way to it is read again', async (t) => {
  const { state, target } = serverTarget()
  const { board, monitor, statuses, unresponsive } = monitorOf(t, target)
  monitor.begin()
  await monitor.whenReady()
  t.equal(board.health('unit')?.toolsCount, 1, 'listed')

  state.unreachable = true
  for (const server of state.servers) await server.close()
  const again = await waitFor(() => (unresponsive.length >= 3 ? true : undefined), 5000, 10)
  t.ok(again, `the owner heard it ${unresponsive.length} times, not once`)
  t.match(unresponsive[0], /no answer to 2 pings in a row/)
  t.match(unresponsive[1], /no answer to 3 pings in a row/, 'and each time with the count so far')
  t.ok(state.lost >= 3, `the cached way to it was dropped after failures (${state.lost})`)
  t.match(statuses.join(' > '), /ready > degraded > unresponsive/, statuses.join(' > '))

  state.unreachable = false
  const back = await waitFor(() => (board.health('unit')?.status === 'ready' ? true : undefined), 5000, 10)
  t.ok(back, 'ready again once it answers, with no restart')
  const heard = unresponsive.length
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(unresponsive.length, heard, 'and no more unresponsive news while it answers')
  monitor.stop()
  t.equal(board.health('unit')?.status, 'stopped', 'stopped: its container does not run')
})

t.test('monitor: a server that never answers initialize is unresponsive after the start timeout', async (t) => {
  const { state, target } = serverTarget()
  state.mute = true
  const { board, monitor, unresponsive } = monitorOf(t, target, { startTimeoutMs: 300 })
  monitor.begin()
  t.equal(board.health('unit')?.status, 'starting')
  const heard = await waitFor(() => unresponsive[0], 5000, 10)
  t.match(heard, /no answer to initialize within 0 s/, 'unresponsive, with why')
  t.equal(board.health('unit')?.status, 'unresponsive')
  const more = await waitFor(() => (unresponsive.length >= 2 ? true : undefined), 5000, 10)
  t.ok(more, 'and said again on the checks that follow')
})

t.test('monitor: a listing that fails leaves the server degraded; the next good ping lists it again', async (t) => {
  const { state, target } = serverTarget()
  state.listFails = true
  const { board, monitor } = monitorOf(t, target)
  monitor.begin()
  await monitor.whenReady()
  t.equal(board.health('unit')?.status, 'degraded')
  t.match(board.health('unit')?.lastError, /listing failed: .*listing broke/)
  state.listFails = false
  const listed = await waitFor(() => (board.health('unit')?.toolsCount === 1 ? true : undefined), 5000, 10)
  t.ok(listed, 'listed again after a good ping')
  t.equal(board.health('unit')?.status, 'ready')
})

/** Self-heal over a fake domain (InstanceApi may be faked) and a real board. */
function healer(t: { teardown(fn: () => unknown): void }, options: { enabled?: boolean; restart?: () => Promise<unknown>; view?: Partial<InstanceView> } = {}) {
  const board = new McpHealthBoard()
  const restarts: number[] = []
  const outcomes: string[] = []
  const view = { desiredState: 'running', dockerState: 'running', ...options.view } as InstanceView
  const heal = new McpSelfHeal({
    instances: {
      get: () => view,
      restart: async () => {
        restarts.push(Date.now())
        await options.restart?.()
        return { instanceName: 'unit', status: 'running' } as never
      }
    },
    board,
    backoffFirstMs: 40,
    backoffMaxMs: 160,
    enabled: options.enabled ?? true,
    logger,
    observer: { restarted: (outcome) => outcomes.push(outcome) }
  })
  t.teardown(() => heal.close())
  const broken = () => {
    board.update('unit', { status: 'unresponsive' })
    heal.unresponsive('unit', 'no answer')
  }
  return { board, heal, restarts, outcomes, broken, view }
}

t.test('self-heal: restarts again and again while broken, the wait doubling up to the cap', async (t) => {
  const { heal, restarts, outcomes, broken, board } = healer(t)
  t.same([0, 1, 2, 3, 4, 5].map((n) => heal.backoff(n)), [0, 40, 80, 160, 160, 160], 'at once, then doubling from the first wait, capped')
  const checks = setInterval(broken, 5)
  t.teardown(() => clearInterval(checks))
  const five = await waitFor(() => (restarts.length >= 5 ? true : undefined), 10_000, 5)
  clearInterval(checks)
  t.ok(five, 'restarted 5 times while it stays broken')
  const gaps = restarts.slice(1).map((at, i) => at - (restarts[i] as number))
  t.comment(`gaps between restarts (ms): ${gaps.join(', ')}`)
  for (const [i, gap] of gaps.entries()) t.ok(gap >= heal.backoff(i + 1) - 2, `restart ${i + 2} waited its ${heal.backoff(i + 1)} ms (${gap} ms)`)
  t.ok(outcomes.every((outcome) => outcome === 'ok'), 'counted as ok')
  t.match(board.health('unit')?.lastError, /restarting its container (now|in \d+ s) \(restart \d+\)/, 'the wait is said in the status')
})

t.test('self-heal: what is not restarted', async (t) => {
  t.test('self-heal off', async (t) => {
    const { restarts, broken } = healer(t, { enabled: false })
    broken()
    await new Promise((resolve) => setTimeout(resolve, 60))
    t.same(restarts, [], 'never restarted')
  })
  t.test('a server that answers again before its turn', async (t) => {
    const { restarts, broken, board } = healer(t)
    broken()
    await waitFor(() => (restarts.length === 1 ? true : undefined), 2000, 5)
    broken()
    board.update('unit', { status: 'ready' })
    await new Promise((resolve) => setTimeout(resolve, 120))
    t.equal(restarts.length, 1, 'the second restart is not made')
  })
  t.test('an instance a user stopped meanwhile', async (t) => {
    const { restarts, broken, outcomes } = healer(t, { view: { desiredState: 'stopped', dockerState: 'exited' } })
    broken()
    await new Promise((resolve) => setTimeout(resolve, 60))
    t.same(restarts, [], 'not restarted')
    t.same(outcomes, [], 'nor counted')
  })
  t.test('a forgotten instance', async (t) => {
    const { heal, restarts, broken } = healer(t)
    broken()
    await waitFor(() => (restarts.length === 1 ? true : undefined), 2000, 5)
    broken()
    heal.forget('unit')
    await new Promise((resolve) => setTimeout(resolve, 120))
    t.equal(restarts.length, 1, 'its pending restart is dropped')
  })
  t.test('while a restart is under way', async (t) => {
    let finish: () => void = () => undefined
    const { restarts, broken } = healer(t, { restart: () => new Promise<void>((resolve) => (finish = resolve)) })
    broken()
    await waitFor(() => (restarts.length === 1 ? true : undefined), 2000, 5)
    for (let i = 0; i < 5; i++) broken()
    await new Promise((resolve) => setTimeout(resolve, 120))
    t.equal(restarts.length, 1, 'news of the failure is not a second restart')
    finish()
    await new Promise((resolve) => setTimeout(resolve, 10))
    broken()
    const second = await waitFor(() => (restarts.length === 2 ? true : undefined), 2000, 5)
    t.ok(second, 'after it, the next failure is')
  })
})

t.test('self-heal: a failed restart is counted and followed by another, after a longer wait', async (t) => {
  const { restarts, outcomes, broken, heal } = healer(t, { restart: () => Promise.reject(new Error('docker said no')) })
  broken()
  await waitFor(() => (outcomes.length === 1 ? true : undefined), 2000, 5)
  t.same(outcomes, ['failed'], 'counted as failed')
  broken()
  const again = await waitFor(() => (restarts.length === 2 ? true : undefined), 2000, 5)
  t.ok(again, 'tried again')
  t.ok((restarts[1] as number) - (restarts[0] as number) >= heal.backoff(1) - 2, 'after the backoff')
})

t.test('health board: a change that matters is told at once; times alone are not', async (t) => {
  const board = new McpHealthBoard()
  const told: string[] = []
  board.onChange((name) => told.push(name))
  board.update('unit', { status: 'ready', lastPingMs: 1, checkedAt: 'a' })
  await Promise.resolve()
  t.same(told, ['unit'], 'a new server is told')
  board.update('unit', { lastPingMs: 2, checkedAt: 'b' })
  await Promise.resolve()
  t.same(told, ['unit'], 'a new ping time alone is not')
  t.equal(board.health('unit')?.lastPingMs, 2, 'but is kept')
  board.update('unit', { status: 'degraded', lastError: 'ping failed' })
  await Promise.resolve()
  t.same(told, ['unit', 'unit'], 'a new status is')
  board.forget('unit')
  t.equal(board.health('unit'), undefined, 'forgotten')
  board.update('unit', { lastError: null })
  t.equal(board.health('unit')?.status, 'starting', 'a server seen anew starts as starting')
})
