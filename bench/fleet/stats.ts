// What the database spends, read from PostgreSQL itself and from /proc:
// row writes (inserts, updates, deletes, and the updates that were HOT) of
// the public tables from pg_stat_user_tables, WAL bytes from
// pg_current_wal_lsn, the CPU seconds of the postmaster and all its
// children, and the client connections in pg_stat_activity. The
// simulation's own CPU comes from /proc/self: the functions' thread (the
// worker, named worker-N by Deno) apart from the rest of the process.
import type pg from 'pg'

export interface Sample {
  at: number
  /** pg_stat_user_functions (track_functions = pl): calls and total ms per DTMA function. */
  functions: Record<string, { calls: number; totalMs: number }>
  writes: number
  hotUpdates: number
  byTable: Record<string, number>
  walBytes: bigint
  dbCpuS: number
  /** The process but the functions' thread: the simulated agents, toolboxes and frontends. */
  simCpuS: number
  /** The functions' thread: handlers, supabase-js, the PostgREST engine. */
  functionsCpuS: number
}

const TICKS = 100

/** utime + stime of a process (and, with `reaped`, of its children that ended: cutime + cstime). */
async function cpuSeconds(pid: number | string, reaped = false): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields 14 to 17 (1-based) of the whole line: 11 to 14 after the state.
  const own = Number(fields[11] ?? 0) + Number(fields[12] ?? 0)
  return (reaped ? own + Number(fields[13] ?? 0) + Number(fields[14] ?? 0) : own) / TICKS
}

/** The CPU seconds of this process and of its functions' thread (the one worker). */
async function ownCpuSeconds(): Promise<{ all: number; functions: number }> {
  let functions = 0
  for await (const entry of Deno.readDir('/proc/self/task')) {
    const comm = await Deno.readTextFile(`/proc/self/task/${entry.name}/comm`).catch(() => '')
    // The task's own stat: /proc/<tid>/stat would sum the whole process.
    if (comm.startsWith('worker-')) functions += await cpuSeconds(`self/task/${entry.name}`)
  }
  return { all: await cpuSeconds(Deno.pid), functions }
}

/** The postmaster and every process it started (backends, walwriter, checkpointer, ...), ended ones included. */
export async function clusterCpuSeconds(postmasterPid: number): Promise<number> {
  let total = await cpuSeconds(postmasterPid, true)
  for await (const entry of Deno.readDir('/proc')) {
    if (!/^\d+$/.test(entry.name)) continue
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => '')
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid === postmasterPid) total += await cpuSeconds(Number(entry.name))
  }
  return total
}

export async function sample(pool: pg.Pool, postmasterPid: number): Promise<Sample> {
  const tables = await pool.query<{ relname: string; writes: string; hot: string }>(
    `select relname, (n_tup_ins + n_tup_upd + n_tup_del)::text as writes, n_tup_hot_upd::text as hot from pg_stat_user_tables where schemaname = 'public'`
  )
  const functions = await pool.query<{ funcname: string; calls: string; total: string }>(
    `select funcname, calls::text, total_time::text as total from pg_stat_user_functions where schemaname = 'public' and funcname like 'dtma\\_%'`
  )
  const own = await ownCpuSeconds()
  const wal = await pool.query<{ lsn: string }>(`select (pg_current_wal_lsn() - '0/0'::pg_lsn)::text as lsn`)
  const byTable: Record<string, number> = {}
  let writes = 0
  let hot = 0
  for (const row of tables.rows) {
    byTable[row.relname] = Number(row.writes)
    writes += Number(row.writes)
    hot += Number(row.hot)
  }
  return {
    at: performance.now(),
    functions: Object.fromEntries(functions.rows.map((row) => [row.funcname, { calls: Number(row.calls), totalMs: Number(row.total) }])),
    writes,
    hotUpdates: hot,
    byTable,
    walBytes: BigInt(wal.rows[0]!.lsn.split('.')[0]!),
    dbCpuS: await clusterCpuSeconds(postmasterPid),
    simCpuS: own.all - own.functions,
    functionsCpuS: own.functions
  }
}

export interface Window {
  seconds: number
  rowWritesPerS: number
  hotShare: number
  writesByTablePerS: Record<string, number>
  walBytesPerToolboxPerMin: number
  dbCpuSPerMin: number
  simCpuSPerMin: number
  functionsCpuSPerMin: number
  /** Mean time inside each DTMA database function per call, ms (the database's share of a call). */
  functionMeanMs: Record<string, number>
}

export function window(from: Sample, to: Sample, toolboxes: number): Window {
  const seconds = (to.at - from.at) / 1000
  const minutes = seconds / 60
  const writes = to.writes - from.writes
  const writesByTablePerS: Record<string, number> = {}
  for (const [table, count] of Object.entries(to.byTable)) {
    const delta = count - (from.byTable[table] ?? 0)
    if (delta > 0) writesByTablePerS[table] = delta / seconds
  }
  const functionMeanMs: Record<string, number> = {}
  for (const [name, now] of Object.entries(to.functions)) {
    const calls = now.calls - (from.functions[name]?.calls ?? 0)
    if (calls > 0) functionMeanMs[name] = (now.totalMs - (from.functions[name]?.totalMs ?? 0)) / calls
  }
  return {
    seconds,
    functionMeanMs,
    rowWritesPerS: writes / seconds,
    hotShare: writes === 0 ? 0 : (to.hotUpdates - from.hotUpdates) / writes,
    writesByTablePerS,
    walBytesPerToolboxPerMin: Number(to.walBytes - from.walBytes) / toolboxes / minutes,
    dbCpuSPerMin: (to.dbCpuS - from.dbCpuS) / minutes,
    simCpuSPerMin: (to.simCpuS - from.simCpuS) / minutes,
    functionsCpuSPerMin: (to.functionsCpuS - from.functionsCpuS) / minutes
  }
}

/** Client connections now (the pool's, and anyone else's). */
export async function connections(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ n: string }>(`select count(*)::text as n from pg_stat_activity where backend_type = 'client backend'`)
  return Number(result.rows[0]!.n)
}
