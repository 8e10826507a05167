#!/usr/bin/env node
// The agent's memory at rest: started, one stdio instance deployed (the test
// image's `tools` server) and answering, nobody calling. Prints the process's
// RSS (from /proc), then its heap after a full GC (a probe preloaded with
// --expose-gc does the GC on SIGUSR2 and writes process.memoryUsage()), and
// the modules it loaded, by package: what lazy loading could leave out.
// Twice: at its first start (the certificate made, the instance deployed)
// and after a restart on the same data dir (the instance adopted, its server
// ready again): what a toolbox runs on most of its life. Each figure is the
// median of DTMA_RSS_RUNS runs (3); DTMA_RSS_MODULES=1 prints the modules by package.
//   node bench/agent-rss.mjs            (DTMA_HOT_NODE_FLAGS, DTMA_HOT_AGENT_JS as bench/mcp-hot.mjs)
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDtmaClient, SCOPES, signToolboxToken } from '@dtma/contract'
import Docker from 'dockerode'

const IMAGE = 'dtma-test/mcp-tools:v1'
const RUNS = Number(process.env.DTMA_RSS_RUNS ?? 3)
const AGENT_BIN = new URL('../packages/agent/bin/dtma-agent', import.meta.url).pathname
const FLAGS = process.env.DTMA_HOT_NODE_FLAGS ?? /exec node (.*?) "\$agent_dir/.exec(readFileSync(AGENT_BIN, 'utf8'))?.[1] ?? ''
const AGENT_JS = process.env.DTMA_HOT_AGENT_JS ?? new URL('../packages/agent/dist/server.js', import.meta.url).pathname
const PROBE = `
import { registerHooks } from 'node:module'
import { writeFileSync, appendFileSync } from 'node:fs'
const out = process.env.DTMA_RSS_PROBE
writeFileSync(out + '.modules', '')
registerHooks({ load(url, context, next) { appendFileSync(out + '.modules', url + '\\n'); return next(url, context) } })
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc()
  const m = process.memoryUsage()
  writeFileSync(out + '.json', JSON.stringify({ heapUsedMb: m.heapUsed / 1048576, heapTotalMb: m.heapTotal / 1048576, externalMb: m.external / 1048576, rssAfterGcMb: m.rss / 1048576 }))
})
`
const docker = new Docker({ socketPath: '/var/run/docker.sock' })
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/** Starts the agent on dataDir and waits until it answers; `probe`: where its probe writes. */
async function startAgent(env, baseUrl) {
  const agent = spawn(process.execPath, [...FLAGS.split(' ').filter(Boolean), '--expose-gc', '--import', `${env.DTMA_RSS_PROBE}.mjs`, AGENT_JS], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  for (let ready = false; !ready; ) {
    ready = await fetch(`${baseUrl}/health/ready`).then((r) => r.ok, () => false)
    if (!ready) await sleep(50)
  }
  return agent
}

async function stopAgent(agent) {
  const exited = new Promise((resolve) => agent.once('exit', resolve))
  agent.kill('SIGTERM')
  await Promise.race([exited, sleep(15_000)])
  agent.kill('SIGKILL')
}

/** After 5 s at rest: RSS, then the heap after a full GC, and the modules loaded. */
async function atRest(agent, probe) {
  await sleep(5000)
  const rss = rssMb(agent.pid)
  rmSync(`${probe}.json`, { force: true })
  agent.kill('SIGUSR2')
  while (!existsSync(`${probe}.json`)) await sleep(50)
  await sleep(100)
  const heap = JSON.parse(readFileSync(`${probe}.json`, 'utf8'))
  const modules = readFileSync(`${probe}.modules`, 'utf8').split('\n').filter(Boolean)
  return { rss, ...heap, modules }
}

/** A first start (certificate made, one instance deployed), then a restart on the same data dir (the instance adopted, its server ready again). */
async function once() {
  const scope = `bench-rss-${randomBytes(4).toString('hex')}`
  const secret = randomBytes(24).toString('hex')
  const audience = 'dtma:bench-rss'
  const token = await signToolboxToken(secret, { audience, scopes: SCOPES, lifetimeSeconds: 600, subject: 'bench-rss' })
  const dataDir = mkdtempSync(join(tmpdir(), 'dtma-bench-rss-'))
  const probe = join(dataDir, 'probe')
  writeFileSync(`${probe}.mjs`, PROBE)
  const port = 35000 + Math.floor(Math.random() * 900)
  const baseUrl = `http://127.0.0.1:${port}`
  const confFile = join(dataDir, 'empty.conf')
  writeFileSync(confFile, '')
  const env = { PATH: process.env.PATH, BACKEND_TO_DTMA_API_KEY: randomBytes(24).toString('hex'), DTMA_BEARER_TOKEN: secret, DTMA_TOKEN_AUDIENCE: audience, DTMA_CONFIG_FILE: confFile, DTMA_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DTMA_TOOL_HOST_IP: '127.0.0.1', DTMA_SCOPE: scope, DTMA_STOP_TIMEOUT_S: '2', OFFLINE_MODE: 'true', LOG_LEVEL: 'warn', DTMA_RSS_PROBE: probe }
  const api = createDtmaClient({ baseUrl, token, timeoutMs: 120_000 })
  const name = 'at rest'
  let agent
  try {
    agent = await startAgent(env, baseUrl)
    const reply = await api.deployTool({ body: { dockerImageUrl: IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: 'bench-rss', baseConfigOverrideJson: { mcpTransport: 'stdio', mcpCapabilities: ['tools'] }, waitForMcp: true } })
    if (reply.status !== 201) throw new Error(`deploy answered ${reply.status}`)
    const first = await atRest(agent, probe)
    await stopAgent(agent)
    agent = await startAgent(env, baseUrl)
    for (let status = ''; status !== 'ready'; ) {
      const got = await api.getTool({ params: { name } })
      status = got.status === 200 ? (got.body.data.mcp?.status ?? '') : ''
      if (status !== 'ready') await sleep(100)
    }
    const restart = await atRest(agent, probe)
    return { first, restart }
  } finally {
    if (agent !== undefined) await stopAgent(agent)
    const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scope}`] } })
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

const runs = []
for (let i = 0; i < RUNS; i++) runs.push(await once())
const packageOf = (url) => (url.startsWith('node:') ? 'node:' : (/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.includes('/packages/agent/') ? 'dtma agent' : url.includes('/packages/contract/') ? '@dtma/contract' : 'other')))
const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]
for (const when of ['first', 'restart']) {
  const figure = (key) => +median(runs.map((run) => run[when][key])).toFixed(1)
  const byPackage = new Map()
  for (const url of runs.at(-1)[when].modules) byPackage.set(packageOf(url), (byPackage.get(packageOf(url)) ?? 0) + 1)
  console.log(JSON.stringify({ start: when, build: AGENT_JS.split('/').at(-2), flags: FLAGS, runs: RUNS, rssMb: figure('rss'), heapUsedMb: figure('heapUsedMb'), heapTotalMb: figure('heapTotalMb'), externalMb: figure('externalMb'), rssAfterGcMb: figure('rssAfterGcMb'), modules: runs.at(-1)[when].modules.length, load }))
  if (process.env.DTMA_RSS_MODULES === '1') console.log(JSON.stringify(Object.fromEntries([...byPackage].sort((a, b) => b[1] - a[1]))))
}
