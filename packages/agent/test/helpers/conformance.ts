// The official MCP conformance suite run as its CLI runs it, against a URL:
// 0.1.16 (every active server scenario, protocol 2025-11-25) and
// 0.2.0-alpha.12 with the 2026-07-28 requirement set (its stateless wire).
// What each scenario did is read from the CLI's summary lines
// ("✓ tools-list: 4 passed, 0 failed"), so a run is one process per era.
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, request, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { tempDir } from './agent.ts'

export type Era = '2025-11-25' | '2026-07-28'
export const ERAS: Era[] = ['2025-11-25', '2026-07-28']

const cli: Record<Era, string> = {
  '2025-11-25': fileURLToPath(new URL('../../../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url)),
  '2026-07-28': fileURLToPath(new URL('../../../../node_modules/mcp-conformance-next/dist/index.js', import.meta.url))
}

export interface ScenarioResult {
  passed: boolean
  checks: string
}

/** Every scenario the suite ran, by name (the not-scored ones of a requirement set included). */
export async function runConformance(t: Test, era: Era, url: string): Promise<Map<string, ScenarioResult>> {
  const cwd = tempDir(t, 'dtma-conformance-')
  const args = [cli[era], 'server', '--url', url, '-o', cwd, ...(era === '2026-07-28' ? ['--requirements', '2026-07-28'] : [])]
  const output = await promisify(execFile)(process.execPath, args, { cwd, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout }) => stdout,
    (error: { stdout?: string }) => error.stdout ?? ''
  )
  const results = new Map<string, ScenarioResult>()
  for (const line of output.split('\n')) {
    const match = /^([✓✗]) (\S+): (\d+ passed, \d+ failed)$/.exec(line)
    if (match !== null) results.set(match[2] as string, { passed: match[1] === '✓', checks: match[3] as string })
  }
  if (process.env.DTMA_CONFORMANCE_DETAIL !== undefined) failedChecks(t, cwd, url)
  return results
}

/** Each failed check's message, as comments (DTMA_CONFORMANCE_DETAIL set). */
function failedChecks(t: Test, dir: string, url: string): void {
  for (const run of readdirSync(dir)) {
    const file = join(dir, run, 'checks.json')
    if (!existsSync(file)) continue
    for (const check of JSON.parse(readFileSync(file, 'utf8')) as Array<{ id: string; status: string; errorMessage?: string }>) {
      if (check.status === 'FAILURE') t.comment(`${url.slice(-30)} ${run.slice(0, 60)} ${check.id}: ${check.errorMessage ?? ''}`.slice(0, 400))
    }
  }
}

/** Forwards every request to the agent with the bearer token added, headers and body otherwise as sent
 *  (the suite sends no credential: it stands for an unauthenticated local server). */
export async function credentialHop(t: Test, agentPort: number, token: string): Promise<number> {
  const hop = createServer((incoming, outgoing) => {
    const headers: IncomingHttpHeaders = { ...incoming.headers, authorization: `Bearer ${token}` }
    const upstream = request({ host: '127.0.0.1', port: agentPort, method: incoming.method, path: incoming.url, headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(outgoing)
    })
    upstream.on('error', () => outgoing.destroy())
    incoming.pipe(upstream)
  })
  await new Promise<void>((resolve) => hop.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => hop.close(resolve)).then(() => hop.closeAllConnections()))
  return (hop.address() as AddressInfo).port
}

export interface TableRow {
  scenario: string
  era: Era
  transport: string
  direct: ScenarioResult | undefined
  through: ScenarioResult | undefined
  /** Why a scenario that fails through DTMA is not counted as lost. */
  note?: string
}

const cell = (result: ScenarioResult | undefined): string => (result === undefined ? 'not run' : `${result.passed ? 'pass' : 'FAIL'} (${result.checks})`)

/** The table as Markdown (scenario, era, transport, direct, through DTMA) with the counts per era and transport. */
export function writeTable(file: string, rows: TableRow[]): void {
  const lines = ['| scenario | era | transport | direct | through DTMA | note |', '|---|---|---|---|---|---|']
  for (const row of rows) lines.push(`| ${row.scenario} | ${row.era} | ${row.transport} | ${cell(row.direct)} | ${cell(row.through)} | ${row.note ?? ''} |`)
  const totals = ['', '| era | transport | scenarios | pass direct | pass through DTMA | lost |', '|---|---|---|---|---|---|']
  const groups = new Map<string, TableRow[]>()
  for (const row of rows) groups.set(`${row.era}|${row.transport}`, [...(groups.get(`${row.era}|${row.transport}`) ?? []), row])
  for (const [key, group] of groups) {
    const [era, transport] = key.split('|')
    const direct = group.filter((row) => row.direct?.passed === true).length
    const through = group.filter((row) => row.through?.passed === true).length
    const lost = group.filter((row) => row.direct?.passed === true && row.through?.passed !== true).map((row) => (row.note === undefined ? row.scenario : `${row.scenario} (${row.note})`))
    totals.push(`| ${era} | ${transport} | ${group.length} | ${direct} | ${through} | ${lost.length === 0 ? 'none' : lost.join(', ')} |`)
  }
  writeFileSync(file, `${[...totals.slice(1), '', ...lines].join('\n')}\n`)
}
