// The real agent binary: it refuses to start without a credential to check, and
// with its secret it serves /health, takes tokens signed with it and shuts down cleanly on SIGTERM. Started the production
// way, through the bin/dtma-agent launcher reached by a symlink (as npm links
// it into node_modules/.bin), it runs node with the agent's V8 sizing.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LOCAL_AUDIENCE, signToolboxToken } from '@dtma/contract'
import t from 'tap'
import { waitFor } from './helpers/wait.ts'
import { fetchText, freePort, tempDir } from './helpers/agent.ts'

const serverBin = fileURLToPath(new URL('../dist/server.js', import.meta.url))
const launcher = fileURLToPath(new URL('../bin/dtma-agent', import.meta.url))

t.test('refuses to start without any token, with a clear message', async (t) => {
  const confFile = join(tempDir(t), 'dtma.conf')
  writeFileSync(confFile, '')
  const child = spawn(process.execPath, [serverBin], { env: { PATH: process.env.PATH, DTMA_CONFIG_FILE: confFile }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const [code] = await once(child, 'exit')
  t.equal(code, 78)
  t.match(stderr, /no credential configured/)
})

t.test('the launcher starts it, it answers /health, stops on SIGTERM', async (t) => {
  const dataDir = tempDir(t)
  const confFile = join(dataDir, 'dtma.conf')
  writeFileSync(confFile, 'DTMA_AUTH_TOKEN=from-the-conf-file-0123456789abcdef\n')
  const linked = join(dataDir, 'dtma-agent')
  symlinkSync(launcher, linked)
  const port = await freePort()
  const child = spawn(linked, [], {
    env: { PATH: process.env.PATH, DTMA_CONFIG_FILE: confFile, DTMA_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => child.kill('SIGKILL'))
  // Both pipes read: a pipe nobody reads fills and blocks the agent's writes.
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(child, 'exit')
  const call = (path: string, token?: string) => fetch(`http://127.0.0.1:${port}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) })
  t.equal(await fetchText(`http://127.0.0.1:${port}/health`, 90_000), 'OK', 'it answers /health')
  // /tools answers 503 until the first sync with Docker: wait for /health/ready.
  t.ok(await waitFor(async () => ((await call('/health/ready').then((r) => r.status, () => 0)) === 200 ? true : undefined), 90_000), 'ready')
  // No audience setting, no environment id: the toolbox's tokens carry dtma:local, signed with the conf file's secret.
  const token = await signToolboxToken('from-the-conf-file-0123456789abcdef', { audience: LOCAL_AUDIENCE, scopes: ['tools:read'], lifetimeSeconds: 60 })
  t.equal((await call('/tools', token)).status, 200, 'a token signed with the secret from the conf file is accepted')
  const raw = await call('/tools', 'from-the-conf-file-0123456789abcdef')
  t.equal(raw.status, 403, 'the secret itself is no bearer')
  t.match(await raw.json(), { error: /signing key/ })
  const commandLine = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  t.same(commandLine, ['node', '--max-semi-space-size=4', serverBin], 'the launcher became node with the V8 sizing (exec: the same pid)')
  child.kill('SIGTERM')
  // The agent bounds its shutdown (DTMA_SHUTDOWN_TIMEOUT_S, 8 s, and a grace): 30 s is past any of its paths.
  const code = await Promise.race([exited.then(([exitCode]) => exitCode as number | null), new Promise<'hung'>((resolve) => setTimeout(resolve, 30_000, 'hung').unref())])
  t.equal(code, 0, 'exits 0 on SIGTERM')
  if (code !== 0) t.comment(`the agent's log tail: ${stdout.slice(-3000)}\nstderr: ${stderr.slice(-2000)}`)
  t.match(stdout, /"msg":"DTMA ready"/)
  t.notMatch(stdout, /from-the-conf-file-0123456789abcdef/, 'the token never reaches the log')
})
