#!/usr/bin/env node
// DTMA's test command (`npm test`): builds, runs the tap suites (real Docker,
// real PostgreSQL), the Deno checks and tests of the edge functions, then the
// tests that must run alone (they stop the Docker engine), and prints the
// line and branch coverage of each package's sources (tap's own), and
// ends with one line "N passed, N failed" summed over all of them.
// Exits non-zero when anything failed.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { relative } from 'node:path'

/** Runs a command, echoing its output, and resolves with its exit code and text. */
function run(command, args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const echo = (target) => (chunk) => {
      output += chunk.toString()
      target.write(chunk)
    }
    child.stdout.on('data', echo(process.stdout))
    child.stderr.on('data', echo(process.stderr))
    child.on('close', (code) => resolve({ code: code ?? 1, output }))
  })
}

/** tap ends with "# { total: 44, pass: 43, fail: 1 }" (fail/skip/todo only when non-zero). */
function tapCounts(output) {
  const match = [...output.matchAll(/^# \{ total: (\d+)(.*)\}$/gm)].at(-1)
  if (!match) return undefined
  const field = (name) => Number(new RegExp(`${name}: (\\d+)`).exec(match[2])?.[1] ?? 0)
  return { passed: field('pass'), failed: field('fail') }
}

/** deno test ends with "ok | 5 passed | 0 failed" (or "FAILED | ..."). */
function denoCounts(output) {
  const match = [...output.matchAll(/(?:ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed/g)].at(-1)
  return match ? { passed: Number(match[1]), failed: Number(match[3]) } : undefined
}

/**
 * Line and branch coverage of each package's sources, summed from tap's
 * json-summary report (.taprc), one line a package.
 */
function coverageLines(summaryFile) {
  if (!existsSync(summaryFile)) return ['coverage: no report (tap gathered none)']
  const perPackage = new Map()
  for (const [file, figures] of Object.entries(JSON.parse(readFileSync(summaryFile, 'utf8')))) {
    const match = /^(packages\/[^/]+\/src)\//.exec(relative(process.cwd(), file))
    if (!match) continue
    const sum = perPackage.get(match[1]) ?? { lines: [0, 0], branches: [0, 0] }
    for (const kind of ['lines', 'branches']) {
      sum[kind][0] += figures[kind].covered
      sum[kind][1] += figures[kind].total
    }
    perPackage.set(match[1], sum)
  }
  const percent = ([covered, total]) => `${total === 0 ? '100.0' : ((100 * covered) / total).toFixed(1)}% (${covered}/${total})`
  return [...perPackage].sort().map(([dir, sum]) => `coverage ${dir}: lines ${percent(sum.lines)}, branches ${percent(sum.branches)}`)
}

const totals = { passed: 0, failed: 0 }
function add(label, code, counts) {
  if (counts === undefined) {
    // A runner that crashed before its summary still counts as a failure.
    totals.failed += 1
    process.stdout.write(`${label}: no summary (exit ${code})\n`)
    return
  }
  totals.passed += counts.passed
  totals.failed += counts.failed + (code !== 0 && counts.failed === 0 ? 1 : 0)
}

const build = await run('npm', ['run', '--silent', 'build'])
if (build.code !== 0) {
  process.stdout.write('build failed\n0 passed, 1 failed\n')
  process.exit(1)
}

rmSync('.tap/report', { recursive: true, force: true })
const tap = await run('npx', ['tap'], { TS_NODE_PROJECT: 'tsconfig.test.json' })
add('tap', tap.code, tapCounts(tap.output))
const coverage = coverageLines('.tap/report/coverage-summary.json')

if (existsSync('scripts/deno-check-and-test.sh')) {
  const deno = await run('bash', ['scripts/deno-check-and-test.sh'])
  add('deno', deno.code, denoCounts(deno.output))
}

// Last and alone: tests that stop the Docker engine every other test uses,
// and the take-over measurement, whose figures another test's load would blur.
const serialFiles = readdirSync('packages/agent/test-serial').filter((file) => file.endsWith('.test.ts'))
const serial = await run('npx', ['tap', '--jobs=1', '--disable-coverage', ...serialFiles.map((file) => `packages/agent/test-serial/${file}`)], { TS_NODE_PROJECT: 'tsconfig.test.json' })
add('tap (serial)', serial.code, tapCounts(serial.output))

process.stdout.write(`\n${coverage.join('\n')}\n`)
process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed\n`)
process.exit(totals.failed === 0 ? 0 : 1)
