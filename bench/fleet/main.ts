// npm run bench:fleet: the fleet simulation at 100, 1,000 and 10,000
// toolboxes of 20 instances each, on a PostgreSQL cluster of its own, and
// its table written into BENCHMARKS.md (between the fleet markers; the rest
// of the file is kept). DTMA_FLEET_SIZES (comma-separated) and
// DTMA_FLEET_STEADY_S change what is run.
import { startCluster } from './cluster.ts'
import { report } from './report.ts'
import { runFleet, type RunResult } from './run.ts'

const sizes = (Deno.env.get('DTMA_FLEET_SIZES') ?? '100,1000,10000').split(',').map(Number)
const steadyS = Number(Deno.env.get('DTMA_FLEET_STEADY_S') ?? 60)
const settings = {
  intervalMs: 60_000,
  changeEveryMs: 180_000,
  refreshEveryMs: 1_800_000,
  warmupS: 15,
  steadyS,
  herdLimitS: 180,
  herdMinS: 60,
  poolSize: 16,
  concurrency: 64,
  retryAfterS: 5
}
const load = () => Deno.loadavg().map((value) => value.toFixed(1)).join(', ')
const log = (line: string) => console.error(`[fleet ${new Date().toISOString().slice(11, 19)}] ${line}`)

const loadBefore = load()
const cluster = await startCluster({ track_functions: 'pl' })
const results: RunResult[] = []
try {
  for (const toolboxes of sizes) {
    log(`${toolboxes} toolboxes`)
    results.push(await runFleet(cluster.url, await cluster.postmasterPid(), { toolboxes, ...settings, log }))
  }
} finally {
  await cluster.close()
}
const version = new TextDecoder().decode((await new Deno.Command('/usr/lib/postgresql/15/bin/postgres', { args: ['--version'] }).output().catch(() => ({ stdout: new Uint8Array() }))).stdout).trim()
const section = report(results, settings, { loadBefore, loadAfter: load(), postgres: version || 'PostgreSQL', deno: Deno.version.deno })
const path = new URL('../../BENCHMARKS.md', import.meta.url)
const current = await Deno.readTextFile(path)
const start = '<!-- fleet:start: written by bench/fleet/main.ts -->'
const end = '<!-- fleet:end -->'
const block = `${start}\n${section}${end}`
const next = current.includes(start)
  ? current.slice(0, current.indexOf(start)) + block + current.slice(current.indexOf(end) + end.length)
  : current.replace('<!-- notes: hand-written below', `${block}\n\n<!-- notes: hand-written below`)
await Deno.writeTextFile(path, next)
console.log(JSON.stringify(results.map(({ healthView: _view, ...result }) => result), null, 1))
log('BENCHMARKS.md written')
