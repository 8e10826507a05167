// The fleet benchmark (npm run bench:fleet) in small: 100 toolboxes of 20
// instances on a PostgreSQL cluster of its own, time-compressed (a 4 s
// heartbeat interval, a change per toolbox every 4 s), through the real
// functions' handlers. It must run to the end: every toolbox enrolled and
// beating again after a fleet-wide restart, every registry change in the
// database, nothing supabase-js would not send. No timing is asserted.
import { startCluster } from '../../../bench/fleet/cluster.ts'
import { runFleet } from '../../../bench/fleet/run.ts'
import * as assert from './assert.ts'

Deno.test({
  name: 'the fleet benchmark runs at 100 toolboxes and every registry change lands',
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const cluster = await startCluster()
    try {
      const result = await runFleet(cluster.url, await cluster.postmasterPid(), {
        toolboxes: 100, intervalMs: 4000, changeEveryMs: 4000, refreshEveryMs: 20_000, warmupS: 1, steadyS: 3, herdLimitS: 60, herdMinS: 2,
        poolSize: 4, concurrency: 16, retryAfterS: 1, log: () => undefined
      })
      console.log(`changes ${result.changes}, lost ${result.lostChanges}, herd absorbed in ${result.herd.absorbedS} s, heartbeats ${result.steady.latency.heartbeat?.n}`)
      assert.equal(result.instances, 2000)
      assert.equal(result.enrolment.latency.n, 100, 'every toolbox enrolled once')
      assert.ok((result.steady.latency.heartbeat?.n ?? 0) > 0, 'heartbeats were recorded')
      const refreshes = Object.entries(result.steady.answers).filter(([key]) => key.startsWith('refresh-status '))
      console.log(`refresh-status answers: ${JSON.stringify(Object.fromEntries(refreshes))}`)
      assert.ok(refreshes.length > 0 && refreshes.every(([key]) => key === 'refresh-status 200'), 'users refreshed, and every refresh succeeded')
      assert.ok(result.changes > 0, 'instances changed')
      assert.equal(result.lostChanges, 0, 'every change is in the registry')
      assert.equal(result.refusedRows, 0)
      assert.equal(result.herd.agentsNotBack, 0, 'every agent beats again after the restart')
      assert.ok(result.herd.absorbedS !== null)
      assert.deepEqual(result.violations, [])
      assert.ok(result.healthView.some((row) => row.measure === 'toolboxes_by_status' && row.key === 'active' && row.count === '100'), 'the fleet view sees 100 active toolboxes')
    } finally {
      await cluster.close()
    }
  }
})
