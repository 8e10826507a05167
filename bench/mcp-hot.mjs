#!/usr/bin/env node
// The agent's MCP hot path alone, quickly: tools/call of the test image's
// `echo` through /tools/{name}/mcp of one stdio instance (the SDK client over
// Streamable HTTP). Prints the agent process's CPU ms per 1,000 calls (from
// /proc/PID/stat, 10 sessions, and 1 session) and dockerd's, calls/s with 10 sessions,
// p50/p95 with 1 session, and the agent's RSS: idle (its instance deployed,
// no session), with 10 sessions, and at its largest while 50 sessions call.
// Every answer is checked (each call echoes a unique token). For choosing the
// hot path's code and the launcher's Node flags: DTMA_HOT_NODE_FLAGS="--max-semi-space-size=2"
// runs the agent with those flags instead of bin/dtma-agent's, DTMA_HOT_AGENT_JS
// another build of it (e.g. a copy of dist/ before a change). DTMA_HOT_STALL=1
// adds the memory of a session that does not read (test/mcp/session-bounds):
// a server that talks without end (the test image's `chatty`), one session's
// stream opened and never read; the agent's RSS growth from before the stream
// to its peak, until the agent ends the session (bench/mcp-flags.mjs runs it
// all for each launcher flag variant).
//   node bench/mcp-hot.mjs            (DTMA_HOT_CALLS, DTMA_HOT_SECONDS, DTMA_HOT_STALL)
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDtmaClient, SCOPES, signToolboxToken } from '@dtma/contract'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import Docker from 'dockerode'

const IMAGE = 'dtma-test/mcp-tools:v1'
const CALLS = Number(process.env.DTMA_HOT_CALLS ?? 1000)
const SECONDS = Number(process.env.DTMA_HOT_SECONDS ?? 5)
const STALL = process.env.DTMA_HOT_STALL === '1'
const AGENT_BIN = new URL('../packages/agent/bin/dtma-agent', import.meta.url).pathname
/** The launcher's own flags, unless others are asked for. */
const FLAGS = process.env.DTMA_HOT_NODE_FLAGS ?? /exec node (.*?) "\$agent_dir/.exec(readFileSync(AGENT_BIN, 'utf8'))?.[1] ?? ''
const AGENT_JS = process.env.DTMA_HOT_AGENT_JS ?? new URL('../packages/agent/dist/server.js', import.meta.url).pathname
const SCOPE = `bench-hot-${randomBytes(4).toString('hex')}`
const FLEET_KEY = randomBytes(24).toString('hex')
const SECRET = randomBytes(24).toString('hex')
const AUDIENCE = 'dtma:bench-hot'
/** What a caller of the MCP endpoint holds: a token signed with the toolbox's secret (the fleet key may not call it). */
const TOKEN = await signToolboxToken(SECRET, { audience: AUDIENCE, scopes: SCOPES, lifetimeSeconds: 600, subject: 'bench-hot' })
const docker = new Docker({ socketPath: '/var/run/docker.sock' })
const dataDir = mkdtempSync(join(tmpdir(), 'dtma-bench-hot-'))
const port = 34000 + Math.floor(Math.random() * 900)
const baseUrl = `http://127.0.0.1:${port}`
const api = createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 300_000 })
const TICK_MS = 1000 / 100
let agent
let wrong = 0

const cpuMs = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS
}
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const quantile = (samples, q) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.ceil(q * samples.length) - 1)]

async function echo(client, text) {
  const result = await client.callTool({ name: 'echo', arguments: { text } })
  if (!JSON.stringify(result.content).includes(text)) wrong += 1
}

async function clientOf(name) {
  const client = new Client({ name: 'bench-hot', version: '1' })
  await client.connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/tools/${encodeURIComponent(name)}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }))
  return client
}

async function rate(clients, seconds) {
  let calls = 0
  const until = performance.now() + seconds * 1000
  await Promise.all(
    clients.map(async (client, worker) => {
      while (performance.now() < until) {
        await echo(client, `w${worker}-${calls}-${randomBytes(3).toString('hex')}`)
        calls += 1
      }
    })
  )
  return calls
}

/** The session-bounds scenario: the agent's RSS growth under a session that does not read, and how long until it is ended. */
async function stall() {
  const reply = await api.deployTool({ body: { dockerImageUrl: 'dtma-test/mcp-hostile:chatty', instanceNameOnToolbox: 'chatty', accountToolInstanceId: 'bench-hot-chatty', baseConfigOverrideJson: { mcpTransport: 'stdio', mcpCapabilities: ['tools'] }, waitForMcp: true } })
  if (reply.status !== 201) throw new Error(`deploy of chatty answered ${reply.status}`)
  const url = `${baseUrl}/tools/chatty/mcp`
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  const post = (body, session) => fetch(url, { method: 'POST', headers: session === undefined ? headers : { ...headers, 'mcp-session-id': session }, body: JSON.stringify(body) })
  const opened = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-hot', version: '1' } } })
  const session = opened.headers.get('mcp-session-id') ?? ''
  await opened.text()
  // Initialized: the server starts talking; with no stream open, what it says is dropped.
  await (await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, session)).text()
  await sleep(1000)
  const before = rssMb(agent.pid)
  const started = performance.now()
  const stream = await fetch(url, { headers: { ...headers, accept: 'text/event-stream', 'mcp-session-id': session } })
  let peak = before
  let ended = false
  while (!ended && performance.now() - started < 30_000) {
    peak = Math.max(peak, rssMb(agent.pid))
    const ping = await post({ jsonrpc: '2.0', id: 9, method: 'ping' }, session)
    await ping.text()
    ended = ping.status === 404
    if (!ended) await sleep(100)
  }
  await stream.body?.cancel().catch(() => undefined)
  return { stallGrowthMb: Math.round(peak - before), stallEndedS: ended ? +((performance.now() - started) / 1000).toFixed(1) : null }
}

try {
  const confFile = join(dataDir, 'empty.conf')
  writeFileSync(confFile, '')
  const env = { PATH: process.env.PATH, BACKEND_TO_DTMA_API_KEY: FLEET_KEY, DTMA_BEARER_TOKEN: SECRET, DTMA_TOKEN_AUDIENCE: AUDIENCE, DTMA_CONFIG_FILE: confFile, DTMA_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', DTMA_TOOL_HOST_IP: '127.0.0.1', DTMA_SCOPE: SCOPE, DTMA_STOP_TIMEOUT_S: '2', OFFLINE_MODE: 'true', LOG_LEVEL: 'warn' }
  agent = spawn(process.execPath, [...FLAGS.split(' ').filter(Boolean), AGENT_JS], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  for (let ready = false; !ready; ) {
    ready = await fetch(`${baseUrl}/health/ready`).then((r) => r.ok, () => false)
    if (!ready) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const name = 'hot path'
  const reply = await api.deployTool({ body: { dockerImageUrl: IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: 'bench-hot', baseConfigOverrideJson: { mcpTransport: 'stdio', mcpCapabilities: ['tools'] }, waitForMcp: true } })
  if (reply.status !== 201) throw new Error(`deploy answered ${reply.status}`)
  await sleep(1000)
  const rssIdle = rssMb(agent.pid)
  const clients = await Promise.all(Array.from({ length: 10 }, () => clientOf(name)))
  await rate(clients, 2)
  const dockerd = Number(readFileSync('/var/run/docker.pid', 'utf8').trim())
  const cpuBefore = cpuMs(agent.pid)
  const dockerdBefore = cpuMs(dockerd)
  const calls = await rate(clients, SECONDS)
  const cpuPer1000 = ((cpuMs(agent.pid) - cpuBefore) / calls) * 1000
  // Shared with whatever else uses the engine meanwhile: a ceiling, not a measure of the relay alone.
  const dockerdPer1000 = ((cpuMs(dockerd) - dockerdBefore) / calls) * 1000
  const rss10 = rssMb(agent.pid)
  const samples = []
  for (let i = 0; i < 200; i++) await echo(clients[0], `warm-${i}`)
  // One call at a time: the cost of a call alone, whatever the machine's other load lets the agent batch.
  const cpuBefore1 = cpuMs(agent.pid)
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now()
    await echo(clients[0], `one-${i}-${randomBytes(3).toString('hex')}`)
    samples.push(performance.now() - started)
  }
  const cpuPer1000One = ((cpuMs(agent.pid) - cpuBefore1) / CALLS) * 1000
  // 50 sessions open and calling: the agent's RSS at its largest meanwhile.
  clients.push(...(await Promise.all(Array.from({ length: 40 }, () => clientOf(name)))))
  let rss50 = rssMb(agent.pid)
  const sampler = setInterval(() => (rss50 = Math.max(rss50, rssMb(agent.pid))), 100)
  const calls50 = await rate(clients, Math.min(SECONDS, 3))
  clearInterval(sampler)
  rss50 = Math.max(rss50, rssMb(agent.pid))
  await Promise.all(clients.map((client) => client.close()))
  const stalled = STALL ? await stall() : {}
  const figures = { build: AGENT_JS.split('/').at(-2), flags: FLAGS, cpuMsPer1000: Math.round(cpuPer1000), dockerdMsPer1000: Math.round(dockerdPer1000), cpuMsPer1000One: Math.round(cpuPer1000One), callsPerS10: Math.round(calls / SECONDS), p50Ms1: +quantile(samples, 0.5).toFixed(3), p95Ms1: +quantile(samples, 0.95).toFixed(3), callsPerS50: Math.round(calls50 / Math.min(SECONDS, 3)), rssMbIdle: Math.round(rssIdle), rssMb10: Math.round(rss10), rssMb50: Math.round(rss50), ...stalled, wrong, load: readFileSync('/proc/loadavg', 'utf8').split(' ')[0] }
  console.log(JSON.stringify(figures))
} finally {
  // Stopped as a service manager stops it (a --cpu-prof in the flags is written on the way out).
  if (agent !== undefined && agent.exitCode === null) {
    const exited = new Promise((resolve) => agent.once('exit', resolve))
    agent.kill('SIGTERM')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
    agent.kill('SIGKILL')
  }
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${SCOPE}`] } })
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
  rmSync(dataDir, { recursive: true, force: true })
}
