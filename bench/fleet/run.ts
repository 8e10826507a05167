// One run of the fleet at one size: a fresh database in the benchmark's
// cluster, the fleet seeded, every agent enrolled, then a steady window
// (heartbeats, churn, frontends refreshing) and a fleet-wide restart (every
// agent killed and started at once: the herd), measured from the database's
// side, then the registry checked against what every toolbox last changed.
import pg from 'pg'
import { SimAgent } from './agent.ts'
import { userJwt } from './rest.ts'
import { percentile, type FunctionName } from './backend.ts'
import { RemoteBackend, type BackendStats } from './remote-backend.ts'
import { applySchema } from './cluster.ts'
import { seedFleet } from './seed.ts'
import { connections, sample, window, type Window } from './stats.ts'
import { CHURN_KINDS, statusReply } from './toolbox.ts'

export interface RunOptions {
  toolboxes: number
  intervalMs: number
  /** Mean time between two changes of one toolbox's instances. */
  changeEveryMs: number
  /** Mean time between two refresh-status calls of a toolbox's user (the frontend). */
  refreshEveryMs: number
  warmupS: number
  steadyS: number
  /** The herd is given this long to be absorbed. */
  herdLimitS: number
  /** The herd's window lasts at least this long (its figures are per minute). */
  herdMinS: number
  poolSize: number
  concurrency: number
  retryAfterS: number
  log: (line: string) => void
}

export interface Latency {
  n: number
  p50: number
  p99: number
  shed: number
}

export interface Phase {
  window: Window
  latency: Partial<Record<FunctionName, Latency>>
  maxConnections: number
  /** The functions' answers in the window, by "function status" (e.g. "refresh-status 200"). */
  answers: Record<string, number>
  /** How late a 100 ms timer of the simulated agents' thread fired (p50 / p99, ms): their own queueing. */
  loopLag: { p50: number; p99: number }
  /** The same on the functions' thread: the queueing inside every latency above. */
  functionsLag: { p50: number; p99: number }
}

export interface RunResult {
  toolboxes: number
  instances: number
  enrolment: { seconds: number; latency: Latency }
  steady: Phase
  herd: Phase & { absorbedS: number | null; agentsNotBack: number; heartbeatsShed: number; registryShed: number }
  healthViewMs: number
  /** Mean time inside dtma_redeem_enrolment per call, ms. */
  enrolmentFunctionMs: number
  healthView: Array<{ measure: string; key: string; count: string }>
  changes: number
  lostChanges: number
  refusedRows: number
  /** Requests supabase-js would not send (the stand-in's wire checks): none expected. */
  violations: string[]
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export async function runFleet(serverUrl: string, postmasterPid: number, options: RunOptions): Promise<RunResult> {
  const { log } = options
  const name = `fleet_${options.toolboxes}_${Date.now()}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  await applySchema(url.toString())
  const statsPool = new pg.Pool({ connectionString: url.toString(), max: 1, idleTimeoutMillis: 0 })
  const fleet = await seedFleet(statsPool, options.toolboxes)
  log(`${options.toolboxes} toolboxes seeded`)
  const byIp = new Map(fleet.map((toolbox) => [toolbox.ip, toolbox]))
  // GET /status of a toolbox's agent, answered by the simulated toolbox at that address.
  const statusOf = (ip: string) => {
    const toolbox = byIp.get(ip)
    return toolbox === undefined ? '' : JSON.stringify(statusReply(toolbox.instances))
  }
  // The functions run in a thread of their own (backend-worker.ts), as the edge runtime runs apart from the toolboxes.
  const backend = await RemoteBackend.start(url.toString(), options, statusOf)
  const call = (fn: 'toolbox-enroll' | 'heartbeat' | 'registry', request: () => Request) => backend.call(fn, request)
  const timing = { intervalMs: options.intervalMs, startJitterMs: Math.min(options.intervalMs, 30_000) }
  const agents = fleet.map((toolbox) => new SimAgent(toolbox.environmentId, toolbox.enrolmentToken, toolbox.instances, call, timing))
  try {
    // Enrolment: every toolbox once, as many at a time as the gateway admits.
    const enrolStart = performance.now()
    let next = 0
    await Promise.all(Array.from({ length: options.concurrency }, async () => {
      while (next < agents.length) await agents[next++]!.enrol()
    }))
    const enrolment = { seconds: (performance.now() - enrolStart) / 1000, latency: latencyOf(await backend.stats(), 'toolbox-enroll') }
    log(`enrolled in ${enrolment.seconds.toFixed(1)} s`)

    // Steady state: heartbeats spread over the interval, as in a fleet that has been up a while.
    await backend.reset()
    for (const agent of agents) agent.start(Math.random() * options.intervalMs)
    let churning = true
    const churnTick = 100
    const times = (everyMs: number) => Math.floor((agents.length * churnTick) / everyMs + Math.random())
    const churner = setInterval(() => {
      if (!churning) return
      for (let n = times(options.changeEveryMs); n > 0; n--) {
        agents[Math.floor(Math.random() * agents.length)]!.change(CHURN_KINDS[Math.floor(Math.random() * CHURN_KINDS.length)]!)
      }
      // Users looking at their toolboxes: the frontend's refresh-status.
      for (let n = times(options.refreshEveryMs); n > 0; n--) {
        const toolbox = fleet[Math.floor(Math.random() * fleet.length)]!
        void backend.call('refresh-status', () => new Request('http://functions.bench/functions/v1/refresh-status', {
          method: 'POST',
          headers: { authorization: `Bearer ${userJwt(toolbox.userId)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ toolboxId: toolbox.environmentId })
        })).then((response) => response.body?.cancel())
      }
    }, churnTick)
    await sleep(options.warmupS * 1000)
    const steady = await measure(backend, statsPool, postmasterPid, options.toolboxes, () => sleep(options.steadyS * 1000))
    log(`steady: ${steady.window.rowWritesPerS.toFixed(0)} row writes/s`)

    const healthView = await statsPool.query<{ measure: string; key: string; count: string }>('select measure, key, count::text from dtma_fleet_health order by measure, key')
    // The view's own time in the database (EXPLAIN ANALYZE), not the round trip through a busy simulation.
    const viewTimes: number[] = []
    for (let i = 0; i < 5; i++) {
      const plan = await statsPool.query<{ 'QUERY PLAN': Array<{ 'Execution Time': number }> }>('explain (analyze, format json) select * from dtma_fleet_health')
      viewTimes.push(plan.rows[0]!['QUERY PLAN'][0]!['Execution Time'])
    }

    // The herd: every agent killed and started at once.
    let absorbedS: number | null = null
    const herd = await measure(backend, statsPool, postmasterPid, options.toolboxes, async () => {
      const restartAt = Date.now()
      for (const agent of agents) agent.kill()
      for (const agent of agents) agent.start()
      const deadline = restartAt + options.herdLimitS * 1000
      while (Date.now() < deadline) {
        await sleep(500)
        const back = agents.every((agent) => agent.lastHeartbeatOk >= restartAt)
        if (back && absorbedS === null) absorbedS = (Math.max(...agents.map((agent) => agent.lastHeartbeatOk)) - restartAt) / 1000
        if (absorbedS !== null && Date.now() - restartAt >= Math.max(options.herdMinS * 1000, absorbedS * 1000 + 2000)) break
      }
    })
    const restartedAt = Date.now() - herd.window.seconds * 1000
    const agentsNotBack = agents.filter((agent) => agent.lastHeartbeatOk < restartedAt).length
    log(`herd: absorbed in ${absorbedS ?? 'never'} s, ${agentsNotBack} agents not back`)

    // Changes stop; every outbox drains; then the registry must hold every toolbox's last change.
    churning = false
    clearInterval(churner)
    for (let waited = 0; waited < 60_000 && agents.some((agent) => agent.outbox.size > 0); waited += 250) await sleep(250)
    for (const agent of agents) agent.kill()
    const rows = await statsPool.query<{ id: string; dtma_status: string; container_id: string; mcp_status: string; fp: string }>(
      `select account_tool_instance_id as id, dtma_status, container_id, mcp_status, mcp_tools_fingerprint as fp from dtma_container_registry`
    )
    const stored = new Map(rows.rows.map((row) => [row.id, row]))
    let lostChanges = 0
    for (const agent of agents) {
      for (const instance of agent.instances) {
        const row = stored.get(instance.id)
        if (row === undefined || row.dtma_status !== instance.status || row.container_id !== instance.containerId || row.mcp_status !== instance.mcpStatus || row.fp !== instance.fingerprint) lostChanges++
      }
    }
    const redeem = await statsPool.query<{ ms: string | null }>(`select (total_time / nullif(calls, 0))::text as ms from pg_stat_user_functions where funcname = 'dtma_redeem_enrolment'`)
    const sum = (key: keyof SimAgent['counters']) => agents.reduce((total, agent) => total + agent.counters[key], 0)
    return {
      toolboxes: options.toolboxes,
      instances: agents.reduce((total, agent) => total + agent.instances.length, 0),
      enrolment,
      steady,
      herd: {
        ...herd,
        absorbedS,
        agentsNotBack,
        heartbeatsShed: herd.latency.heartbeat?.shed ?? 0,
        registryShed: herd.latency.registry?.shed ?? 0
      },
      healthViewMs: percentile(viewTimes, 50),
      enrolmentFunctionMs: Number(redeem.rows[0]?.ms ?? Number.NaN),
      healthView: healthView.rows,
      changes: sum('changes'),
      lostChanges,
      refusedRows: sum('registryRefused'),
      violations: (await backend.stats()).violations
    }
  } finally {
    for (const agent of agents) agent.kill()
    await backend.close()
    await statsPool.end()
  }
}

async function measure(backend: RemoteBackend, pool: pg.Pool, postmasterPid: number, toolboxes: number, during: () => Promise<void>): Promise<Phase> {
  await backend.reset()
  const lags: number[] = []
  let expected = performance.now() + 100
  const ticker = setInterval(() => {
    lags.push(Math.max(0, performance.now() - expected))
    expected = performance.now() + 100
  }, 100)
  let maxConnections = 0
  const poll = setInterval(() => void connections(pool).then((n) => (maxConnections = Math.max(maxConnections, n))).catch(() => undefined), 1000)
  const before = await sample(pool, postmasterPid)
  await during()
  // The statistics of a backend reach the shared counters within a second.
  await sleep(1100)
  const after = await sample(pool, postmasterPid)
  clearInterval(poll)
  clearInterval(ticker)
  const stats = await backend.stats()
  const latency: Phase['latency'] = {}
  for (const fn of ['heartbeat', 'registry', 'refresh-status'] as const) if (stats.latencies.has(fn) || stats.shed.has(fn)) latency[fn] = latencyOf(stats, fn)
  const result = window(before, after, toolboxes)
  // The second of waiting for the statistics is not part of the window.
  return {
    window: result,
    latency,
    maxConnections,
    answers: Object.fromEntries(stats.statuses),
    loopLag: { p50: percentile(lags, 50), p99: percentile(lags, 99) },
    functionsLag: { p50: percentile(stats.lags, 50), p99: percentile(stats.lags, 99) }
  }
}

function latencyOf(stats: BackendStats, fn: FunctionName): Latency {
  const values = stats.latencies.get(fn) ?? []
  return { n: values.length, p50: percentile(values, 50), p99: percentile(values, 99), shed: stats.shed.get(fn) ?? 0 }
}
