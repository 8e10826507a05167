// The real agent binary: it refuses to start without a token, and with one it
// serves /health and shuts down cleanly on SIGTERM. Started the production
// way, through the bin/dtma-agent launcher reached by a symlink (as npm links
// it into node_modules/.bin), it runs node with the agent's V8 sizing.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
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
  t.match(stderr, /no API token configured/)
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
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  t.equal(await fetchText(`http://127.0.0.1:${port}/health`, 100), 'OK')
  const tools = await fetch(`http://127.0.0.1:${port}/tools`, { headers: { authorization: 'Bearer from-the-conf-file-0123456789abcdef' } })
  t.equal(tools.status, 200, 'the token from the conf file is accepted')
  const commandLine = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  t.same(commandLine, ['node', '--max-semi-space-size=2', '--optimize-for-size', serverBin], 'the launcher became node with the V8 sizing (exec: the same pid)')
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0)
  t.match(stdout, /"msg":"DTMA ready"/)
  t.notMatch(stdout, /from-the-conf-file-0123456789abcdef/, 'the token never reaches the log')
})
