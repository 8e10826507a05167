#!/usr/bin/env node
// `npm run bench:sqlite`: the agent's store engine on this Node, node:sqlite
// (built into Node) against better-sqlite3 (a native addon), side by side in
// one run, with the store's durability (WAL, synchronous=FULL) and its
// single-row upsert:
//   (a) what the engine adds to an install on a fresh machine: better-sqlite3
//       is installed into a temporary directory with an empty npm cache, as
//       `npm ci` on a fresh clone would; node:sqlite needs nothing;
//   (b) commit latency of UPSERTS single-row upserts, the two engines
//       interleaved upsert by upsert so both see the same disk and load;
//   (c) RSS of a process (the launcher's V8 flags) holding the store open
//       after the same workload, beside a bare node with the same flags.
// better-sqlite3 13 is the contender: 12.x (what DTMA used on Node 20) has no
// prebuilt binary for Node 24 here, compiles from source (70 s), and then
// aborts the process when the GC collects one of its statements from the
// event loop (Node 24.19 changed node::ObjectWrap; 13 moved to node-addon-api
// and ships its binaries in the package).
// better-sqlite3 is not a dependency of DTMA; this is the one place it is used.
// Prints a markdown table (BENCHMARKS.md, "Store engine on Node 24").
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const UPSERTS = Number(process.env.DTMA_BENCH_SQLITE_UPSERTS ?? 2000)
const BETTER_SQLITE3 = '13.2.0'
const RSS_RUNS = 3
/** bin/dtma-agent's V8 flags, read from it, so (c) is what production would hold. */
const LAUNCHER = readFileSync(new URL('../packages/agent/bin/dtma-agent', import.meta.url), 'utf8')
const LAUNCHER_FLAGS = (/exec node (.*?) "\$agent_dir/.exec(LAUNCHER)?.[1] ?? '').split(' ').filter(Boolean)
const ENGINES = ['node:sqlite', 'better-sqlite3']

// The store's table and upsert (packages/agent/src/store/instance-store.ts).
const SCHEMA = `CREATE TABLE IF NOT EXISTS instances (
  instance_name TEXT PRIMARY KEY, container_name TEXT NOT NULL UNIQUE, spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL,
  desired_state TEXT NOT NULL CHECK (desired_state IN ('running', 'stopped')),
  pending_operation TEXT CHECK (pending_operation IN ('deploy', 'remove')), updated_at INTEGER NOT NULL)`
const UPSERT = `INSERT INTO instances (instance_name, container_name, spec_json, spec_hash, desired_state, pending_operation, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (instance_name) DO UPDATE SET container_name = excluded.container_name, spec_json = excluded.spec_json,
    spec_hash = excluded.spec_hash, desired_state = excluded.desired_state,
    pending_operation = excluded.pending_operation, updated_at = excluded.updated_at`

/** Upsert i: 50 instances written over and over, a spec the size of a real deploy's. */
function upsertParams(i) {
  const name = `Context7 MCP Server-${i % 50}`
  const spec = {
    instanceName: name,
    accountToolInstanceId: `7d1c0ad2-53d4-4b5b-9f7e-${String(i % 50).padStart(12, '0')}`,
    image: 'ghcr.io/example/context7-mcp:1.4.2',
    env: ['API_KEY=sk-0123456789abcdef0123456789abcdef', 'LOG_LEVEL=info', `REVISION=${i}`],
    ports: [{ container_port: 8080, protocol: 'tcp', host_ip: '0.0.0.0', host_port: 30001 + (i % 50) }]
  }
  return [name, `dtma-${i % 50}`, JSON.stringify(spec), `hash-${i}`, i % 2 ? 'running' : 'stopped', null, Date.now()]
}

// ---- the two engines behind one small interface ---------------------------------

/** Opens a store file as the agent does: WAL, synchronous=FULL, busy_timeout. */
async function openStore(engine, file, betterSqlite3Dir) {
  let db
  if (engine === 'node:sqlite') {
    const { DatabaseSync } = await import('node:sqlite')
    db = new DatabaseSync(file)
  } else {
    const Database = createRequire(join(betterSqlite3Dir, 'package.json'))('better-sqlite3')
    db = new Database(file)
  }
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000')
  db.exec(SCHEMA)
  const get = (sql) => Object.values(db.prepare(sql).get())[0]
  const upsert = db.prepare(UPSERT)
  return {
    sqliteVersion: get('SELECT sqlite_version()'),
    durability: `${get('PRAGMA journal_mode')}, synchronous=${get('PRAGMA synchronous') === 2 ? 'FULL' : get('PRAGMA synchronous')}`,
    upsert: (params) => upsert.run(...params),
    close: () => db.close()
  }
}

// ---- (c) in a child process per engine: `sqlite.mjs hold <engine|none> <file> <dir>` -----

if (process.argv[2] === 'hold') {
  const [engine, file, betterSqlite3Dir] = process.argv.slice(3)
  if (engine !== 'none') {
    const store = await openStore(engine, file, betterSqlite3Dir)
    for (let i = 0; i < UPSERTS; i++) store.upsert(upsertParams(i))
  }
  globalThis.gc()
  await new Promise((resolve) => setTimeout(resolve, 200))
  globalThis.gc()
  process.stdout.write(`${process.memoryUsage().rss}\n`)
  process.exit(0)
}

// ---- measuring --------------------------------------------------------------------

const now = () => performance.now()
function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}
const log = (text) => process.stderr.write(`[bench:sqlite] ${text}\n`)

/** (a): better-sqlite3 into an empty project with an empty npm cache. */
async function installBetterSqlite3(dir) {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, allowScripts: { 'better-sqlite3': true } }))
  const start = now()
  await run('npm', ['install', '--no-audit', '--no-fund', `--cache=${join(dir, '.npm-cache')}`, `better-sqlite3@${BETTER_SQLITE3}`], { cwd: dir, maxBuffer: 64 * 1024 * 1024 })
  const seconds = (now() - start) / 1000
  const { stdout } = await run('du', ['-sk', join(dir, 'node_modules')])
  return { seconds, mb: Number(stdout.split('\t')[0]) / 1024 }
}

/** (b): both stores open at once, each upsert timed on its own, the engines alternating. */
async function commitLatency(dir, betterSqlite3Dir) {
  const stores = await Promise.all(ENGINES.map((engine) => openStore(engine, join(dir, `latency-${engine.replace(':', '-')}.db`), betterSqlite3Dir)))
  const samples = ENGINES.map(() => [])
  for (let i = -50; i < UPSERTS; i++) {
    const params = upsertParams(i + 50)
    for (const [k, store] of stores.entries()) {
      const start = now()
      store.upsert(params)
      if (i >= 0) samples[k].push(now() - start)
    }
  }
  const result = stores.map((store, k) => ({ sqliteVersion: store.sqliteVersion, durability: store.durability, p50: quantile(samples[k], 0.5), p99: quantile(samples[k], 0.99) }))
  for (const store of stores) store.close()
  return result
}

/** (c): median RSS in MB over RSS_RUNS fresh processes. */
async function holdingRss(engine, dir, betterSqlite3Dir) {
  const runs = []
  for (let r = 0; r < RSS_RUNS; r++) {
    const file = join(dir, `hold-${r}-${engine.replace(':', '-')}.db`)
    const { stdout } = await run(process.execPath, [...LAUNCHER_FLAGS, '--expose-gc', fileURLToPath(import.meta.url), 'hold', engine, file, betterSqlite3Dir])
    runs.push(Number(stdout) / 2 ** 20)
  }
  return quantile(runs, 0.5)
}

const f = (value, digits = 2) => value.toFixed(digits)

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'dtma-bench-sqlite-'))
  try {
    const betterSqlite3Dir = join(dir, 'better-sqlite3-install')
    mkdirSync(betterSqlite3Dir)
    log(`installing better-sqlite3@${BETTER_SQLITE3} with an empty npm cache`)
    const install = await installBetterSqlite3(betterSqlite3Dir)
    log(`installed in ${f(install.seconds, 1)} s; ${UPSERTS} upserts per engine`)
    const latency = await commitLatency(dir, betterSqlite3Dir)
    const bare = await holdingRss('none', dir, betterSqlite3Dir)
    const rss = []
    for (const engine of ENGINES) rss.push(await holdingRss(engine, dir, betterSqlite3Dir))

    const lines = [
      `Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, store files in ${tmpdir()}; ${UPSERTS} single-row upserts per engine (the store's statement, 50 instances), interleaved; RSS: median of ${RSS_RUNS} processes with the launcher's flags, after the same upserts and a GC (bare node with the same flags: ${f(bare, 1)} MB).`,
      '',
      '| engine | SQLite | durability | added to a fresh install | upsert commit p50 (ms) | p99 (ms) | RSS holding the store (MB) | over bare node (MB) |',
      '|---|---|---|---|---|---|---|---|'
    ]
    for (const [k, engine] of ENGINES.entries()) {
      const installed = engine === 'node:sqlite' ? 'nothing (built into Node)' : `${f(install.seconds, 1)} s, ${f(install.mb, 1)} MB (its prebuilt binaries, empty npm cache)`
      const l = latency[k]
      lines.push(`| ${engine === 'better-sqlite3' ? `better-sqlite3 ${BETTER_SQLITE3}` : engine} | ${l.sqliteVersion} | ${l.durability} | ${installed} | ${f(l.p50, 3)} | ${f(l.p99, 3)} | ${f(rss[k], 1)} | ${f(rss[k] - bare, 1)} |`)
    }
    process.stdout.write(lines.join('\n') + '\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
