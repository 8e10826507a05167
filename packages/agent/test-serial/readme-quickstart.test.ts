// README.md is the front door: its quick start must work exactly as printed.
// This runs `npm run dev` from the repository root, as the README says, then
// every command of the README's second block, verbatim, through bash, and
// checks what each one answers. Serial: the quick start uses the fixed ports
// 30000 (the agent) and 30001 (the tool).
import { execFile, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const run = promisify(execFile)

/** The shell block after "Then, in a second terminal": one command per entry, continuations joined. */
function quickStartCommands(): string[] {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  const block = /Then, in a second terminal[^\n]*\n+```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
}

t.test("the README's quick start works as printed against `npm run dev`", async (t) => {
  const commands = quickStartCommands()
  t.ok(commands.length >= 8, `${commands.length} commands in the quick start`)
  const dev = spawn('npm', ['run', 'dev'], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let devOutput = ''
  dev.stdout?.on('data', (chunk: Buffer) => (devOutput += chunk.toString()))
  dev.stderr?.on('data', (chunk: Buffer) => (devOutput += chunk.toString()))
  const exited = new Promise((resolve) => dev.once('exit', resolve))
  t.teardown(async () => {
    if (dev.exitCode === null) process.kill(-(dev.pid as number), 'SIGTERM')
    await exited
  })
  const ready = async () => fetch('http://localhost:30000/health/ready').then((r) => r.ok, () => false)
  for (let i = 0; i < 300 && !(await ready()); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  if (!(await ready())) return t.fail(`npm run dev did not become ready:\n${devOutput}`)

  // The commands share one shell, as in a terminal: TOKEN set by the first is used by the rest.
  const outputs: string[] = []
  let script = ''
  for (const command of commands) {
    script += `${command}\necho "<<<end>>>"\n`
  }
  const { stdout } = await run('bash', ['-c', script], { cwd: ROOT, timeout: 120_000 })
  outputs.push(...stdout.split('<<<end>>>\n'))
  const answerOf = (pattern: RegExp) => outputs[commands.findIndex((command) => pattern.test(command))] ?? ''

  t.equal(answerOf(/\/health\b/).trim(), 'OK', 'health')
  t.match(JSON.parse(answerOf(/\/tools\/status/)), { success: true, data: Array }, 'tools/status')
  const deployed = JSON.parse(answerOf(/-X POST localhost:30000\/tools -H/))
  t.match(deployed, { success: true, message: /is the DTMA agent's own port: 8080\/tcp is bound to 30001 instead/, data: { ports: [{ host_port: 30001 }] } }, 'deploy: the port policy at work')
  t.equal(answerOf(/localhost:30001\//).trim(), 'dtma-test-ok', 'the tool answers on the port the agent chose')
  t.match(JSON.parse(answerOf(/\/stop'/)), { success: true, data: { state: 'stopped' } }, 'stop')
  t.match(JSON.parse(answerOf(/\/start'/)), { success: true, data: { state: 'running' } }, 'start')
  t.match(JSON.parse(answerOf(/-X DELETE/)), { success: true, message: /removed successfully/ }, 'delete')
})
