// The fidelity matrix: every real server (stdio and http) with every real
// client, once directly and once through DTMA, compared step by step. A pair
// that works directly must work through DTMA with the same transcript. The
// matrix (server, transport, client, direct, through DTMA) is printed as the
// test's closing comment, with the time each session took.
import { isDeepStrictEqual } from 'node:util'
import type { Test } from 'tap'
import { startTestAgent } from './agent.ts'
import { ensureMcpImages } from './mcp.ts'
import { FIDELITY_CLIENTS, type FidelityClient, TRANSPORT_STEPS, type Transcript } from './mcp-clients.ts'
import { deployThroughDtma, directTargets, type Deployed, type RealServer, type Target } from './real-servers.ts'

const STAND_IN = 'sdk-1.32'

interface Row {
  server: RealServer
  client: string
  direct: Transcript
  /** Set when the client cannot reach the server directly: whose direct transcript stands in. */
  reference?: string
  through: Transcript | { failure: string }
}

/** Runs up to `limit` of the tasks at once, in order of the list. */
async function inTurn<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await task(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** The steps of a transcript to compare with the other side's: a step of one transport alone is left out. */
function comparable(steps: Record<string, unknown>, other: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(steps).filter(([name]) => !TRANSPORT_STEPS.has(name) || name in other))
}

/** The steps whose outcome differs. */
function differingSteps(direct: Transcript, through: Transcript): string[] {
  const [a, b] = [comparable(direct.steps, through.steps), comparable(through.steps, direct.steps)]
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((name) => !isDeepStrictEqual(a[name], b[name]))
}

interface Prepared {
  server: RealServer
  direct: Target
  through: Deployed
}

const sessions = new Map<string, Promise<unknown>>()

/** Sessions of one shared server (an http server's container, any server through DTMA) run one
 *  at a time: a server's answers may depend on calls in flight in other sessions (Playwright's
 *  error text does); a direct stdio server is a container of its own per session. */
function inTurnOn<T>(target: Target, session: () => Promise<T>): Promise<T> {
  if (target.kind === 'stdio') return session()
  const run = (sessions.get(target.url) ?? Promise.resolve()).then(session, session)
  sessions.set(target.url, run.catch(() => undefined))
  return run
}

/** One client with one server, directly and through DTMA. mcp-remote reaches only http
 *  servers: over stdio the current SDK's direct session stands in (filled in by the caller). */
async function rowOf({ server, direct, through }: Prepared, client: FidelityClient): Promise<Omit<Row, 'direct'> & { direct?: Transcript }> {
  const reaches = client.reaches(direct)
  const directTranscript = reaches ? await inTurnOn(direct, () => client.run(direct, server)) : undefined
  const throughTranscript = through.ok ? await inTurnOn(through.target, () => client.run(through.target, server)) : { failure: through.reason }
  return { server, client: client.name, ...(directTranscript !== undefined ? { direct: directTranscript } : { reference: STAND_IN }), through: throughTranscript }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const short = (text: string) => text.replace(/\s+/g, ' ').slice(0, 90)

function directCell(row: Row): string {
  if (row.reference !== undefined) return `n/a: ${row.reference} direct stands in`
  return row.direct.works ? `ok (${seconds(row.direct.ms)})` : `FAILS: ${short(row.direct.failure ?? '?')}`
}

function throughCell(row: Row): string {
  if (!('steps' in row.through)) return `FAILS: ${short(row.through.failure)}`
  if (!row.through.works) return `FAILS: ${short(row.through.failure ?? '?')}`
  const differing = differingSteps(row.direct, row.through)
  return differing.length === 0 ? `same (${seconds(row.through.ms)})` : `DIFFERS in ${differing.join(', ')}`
}

function matrix(rows: Row[]): string {
  const lines = [['server', 'transport', 'client', 'direct', 'through DTMA'], ...rows.map((row) => [row.server.server, row.server.transport, row.client, directCell(row), throughCell(row)])]
  const widths = [0, 1, 2, 3].map((column) => Math.max(...lines.map((line) => line[column]?.length ?? 0)))
  return lines.map((line) => line.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n')
}

/** Deploys the servers on one agent, runs every client against each directly and through DTMA,
 *  asserts that each pair that works directly gives the same transcript through DTMA, and prints the matrix. */
export async function fidelityMatrix(t: Test, servers: RealServer[], portRange: string): Promise<void> {
  await ensureMcpImages()
  // A server not ready in 25 s will not be: the deploy answers then (the default waits two minutes).
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: portRange, DTMA_MCP_START_TIMEOUT_S: '25' } })
  const direct = directTargets(t)
  const started = Date.now()
  const prepared = await Promise.all(
    servers.map(async (server): Promise<Prepared> => {
      const [directTarget, through] = await Promise.all([server.transport === 'stdio' ? direct.stdio(server) : direct.http(server), deployThroughDtma(agent, server)])
      return { server, direct: directTarget, through }
    })
  )
  const ready = Date.now() - started
  // Every client with every server, a few sessions at a time (the stdio ones start a container each).
  const pairs = prepared.flatMap((server) => FIDELITY_CLIENTS.map((client) => ({ server, client })))
  const partial = await inTurn(pairs, 4, ({ server, client }) => rowOf(server, client))
  const rows = partial.map((row): Row => {
    const stand = partial.find((other) => other.server === row.server && other.client === STAND_IN)?.direct
    if (row.direct === undefined && stand === undefined) throw new Error(`${row.client} needs the ${STAND_IN} row`)
    return { ...row, direct: row.direct ?? (stand as Transcript) }
  })

  for (const row of rows) {
    const label = `${row.server.server} ${row.server.transport} ${row.client}`
    t.ok(row.direct.works, `${label}: works directly`, { failure: row.direct.failure })
    if (!row.direct.works) continue
    const through = row.through
    t.ok('steps' in through && through.works, `${label}: works through DTMA`, { failure: through.failure })
    if (!('steps' in through) || !through.works) continue
    const differing = differingSteps(row.direct, through)
    t.same(comparable(through.steps, row.direct.steps), comparable(row.direct.steps, through.steps), `${label}: the same answers through DTMA as directly${differing.length > 0 ? ` (differ: ${differing.join(', ')})` : ''}`)
  }
  t.comment(`fidelity matrix (servers deployed and started in ${seconds(ready)}, sessions in ${seconds(Date.now() - started - ready)}):\n${matrix(rows)}`)
}
