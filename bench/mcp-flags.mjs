#!/usr/bin/env node
// The launcher's Node flags, chosen by measurement: bench/mcp-hot.mjs (with
// DTMA_HOT_STALL=1) for each variant of flags, the variants one after the
// other and the rounds interleaved, then one markdown table of the medians:
// the agent's CPU per 1,000 calls with 10 sessions and with 1 (one call at a
// time), calls/s with 10 and 50 sessions, its RSS idle and at its largest
// while 50 sessions call, and its RSS growth under a session that does not
// read its stream (and how long until it was ended). Needs a quiet machine.
//   node bench/mcp-flags.mjs          (DTMA_FLAGS_ROUNDS, default 1;
//   DTMA_FLAGS_VARIANTS: variants separated by "|", "none" for no flags)
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'

const run = promisify(execFile)
const HOT = new URL('./mcp-hot.mjs', import.meta.url).pathname
const VARIANTS = (process.env.DTMA_FLAGS_VARIANTS ?? '--max-semi-space-size=2 --optimize-for-size|--max-semi-space-size=2|--max-semi-space-size=4|--max-semi-space-size=8|none|--max-semi-space-size=2 --single-threaded-gc')
  .split('|')
  .map((variant) => (variant.trim() === 'none' ? '' : variant.trim()))
const ROUNDS = Number(process.env.DTMA_FLAGS_ROUNDS ?? 1)
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(', ')
const median = (xs) => {
  const sorted = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b)
  return sorted.length === 0 ? undefined : sorted[Math.floor((sorted.length - 1) / 2)]
}

const results = new Map(VARIANTS.map((flags) => [flags, []]))
const loadBefore = load()
for (let round = 1; round <= ROUNDS; round++) {
  for (const flags of VARIANTS) {
    const { stdout } = await run(process.execPath, [HOT], { env: { ...process.env, DTMA_HOT_NODE_FLAGS: flags, DTMA_HOT_STALL: '1' }, maxBuffer: 1024 * 1024 })
    const figures = JSON.parse(stdout.trim().split('\n').at(-1))
    results.get(flags).push(figures)
    console.error(`round ${round}: ${JSON.stringify(figures)}`)
  }
}

const COLUMNS = [
  ['agent CPU ms / 1,000 calls, 10 sessions', 'cpuMsPer1000'],
  ['agent CPU ms / 1,000 calls, 1 session', 'cpuMsPer1000One'],
  ['calls/s, 10 sessions', 'callsPerS10'],
  ['calls/s, 50 sessions', 'callsPerS50'],
  ['p50 ms, 1 session', 'p50Ms1'],
  ['agent RSS idle (MB)', 'rssMbIdle'],
  ['agent RSS, 50 sessions calling (MB)', 'rssMb50'],
  ['RSS growth, a session that does not read (MB)', 'stallGrowthMb'],
  ['that session ended after (s)', 'stallEndedS'],
  ['wrong answers', 'wrong']
]
const lines = [`| flags | ${COLUMNS.map(([title]) => title).join(' | ')} |`, `|---|${COLUMNS.map(() => '---').join('|')}|`]
for (const [flags, runs] of results) {
  const cells = COLUMNS.map(([, key]) => {
    const value = median(runs.map((figures) => figures[key]))
    return key === 'wrong' ? String(runs.reduce((sum, figures) => sum + figures.wrong, 0)) : String(value ?? '—')
  })
  lines.push(`| ${flags === '' ? '(none)' : `\`${flags}\``} | ${cells.join(' | ')} |`)
}
console.log(`${ROUNDS} round(s), medians; load average ${loadBefore} before, ${load()} after`)
console.log(lines.join('\n'))
