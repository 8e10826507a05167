#!/usr/bin/env node
// `npm run bench:mcp` (also the last part of `npm run bench`): DTMA's MCP
// bridge against the same MCP server spoken to without the agent, in one run
// on this machine, written into BENCHMARKS.md as its MCP section (the rest of
// the file is bench/run.mjs's). The server is a real one from npm on the
// local test image (test-images/mcp, built first); the agent runs as
// production starts it, under its own scope label, and every container of
// that scope is removed at the end, even on failure.
//   - bridge overhead: tools/call through /tools/{name}/mcp (the SDK client
//     over Streamable HTTP) vs the same server attached directly through the
//     Engine API (the SDK client over its stdin and stdout), p50 and p99;
//   - throughput through one stdio instance with 1, 10 and 50 sessions vs
//     the server's own stdio throughput with as many calls in flight;
//   - deploy to MCP-ready (initialize answered): the agent's deploy with
//     waitForMcp vs `docker run -i` and initialize written by hand;
//   - agent RSS with 50 bridged instances and 200 open sessions.
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { createDtmaClient } from '@dtma/contract'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import Docker from 'dockerode'

const run = promisify(execFile)
const IMAGE = 'dtma-test/mcp-tools:v1'
const CALLS = Number(process.env.DTMA_BENCH_MCP_CALLS ?? 2000)
const THROUGHPUT_S = Number(process.env.DTMA_BENCH_MCP_SECONDS ?? 5)
const DEPLOY_REPS = Number(process.env.DTMA_BENCH_MCP_DEPLOYS ?? 10)
const SCOPE = `bench-mcp-${randomBytes(4).toString('hex')}`
const TOKEN = randomBytes(24).toString('hex')
const AGENT_BIN = new URL('../packages/agent/bin/dtma-agent', import.meta.url).pathname
const OUTPUT = new URL('../BENCHMARKS.md', import.meta.url).pathname
const SANDBOX = ['--network', 'dtma-tools', '--memory', '512m', '--memory-swap', '512m', '--pids-limit', '256', '--cpus', '1', '--security-opt', 'no-new-privileges:true', '--cap-drop', 'ALL', '--ipc', 'private']

const docker = new Docker({ socketPath: '/var/run/docker.sock' })
const dataDir = mkdtempSync(join(tmpdir(), 'dtma-bench-mcp-'))
const agentPort = 33000 + Math.floor(Math.random() * 900)
const baseUrl = `http://127.0.0.1:${agentPort}`
const api = createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 300_000 })
const log = (text) => process.stderr.write(`[bench:mcp] ${text}\n`)
let agent
let counter = 0

// ---- measuring ---------------------------------------------------------------------

const now = () => performance.now()
function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}
const stats = (samples) => ({ n: samples.length, p50: quantile(samples, 0.5), p95: quantile(samples, 0.95), p99: quantile(samples, 0.99) })
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
const f = (ms) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1))
const verdict = (ok) => (ok ? 'met' : '**missed**')

// ---- the agent -----------------------------------------------------------------------

async function startAgent() {
  const confFile = join(dataDir, 'empty.conf')
  writeFileSync(confFile, '')
  const child = spawn(AGENT_BIN, [], {
    env: { PATH: process.env.PATH, BACKEND_TO_DTMA_API_KEY: TOKEN, DTMA_CONFIG_FILE: confFile, DTMA_DATA_DIR: dataDir, PORT: String(agentPort), HOST: '127.0.0.1', DTMA_TOOL_HOST_IP: '127.0.0.1', DTMA_SCOPE: SCOPE, DTMA_STOP_TIMEOUT_S: '2', OFFLINE_MODE: 'true', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (await fetch(`${baseUrl}/health/ready`).then((r) => r.ok, () => false)) return child
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error('agent not ready')
}

function deployBody(name) {
  return { dockerImageUrl: IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: `bench-${name}`, baseConfigOverrideJson: { mcpTransport: 'stdio', mcpCapabilities: ['tools'] }, waitForMcp: true }
}

async function deploy(name) {
  const reply = await api.deployTool({ body: deployBody(name) })
  if (reply.status !== 201) throw new Error(`deploy answered ${reply.status}: ${JSON.stringify(reply.body)}`)
}

async function agentClient(name) {
  const client = new Client({ name: 'bench', version: '1' })
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/tools/${encodeURIComponent(name)}/mcp`), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } })
  await client.connect(transport)
  return client
}

// ---- the same server without the agent: attached through the Engine API -------------

/** The SDK's Transport over a container's attach: newline-delimited JSON-RPC. */
class AttachTransport {
  constructor(connection) {
    this.connection = connection
  }
  async start() {
    const stdout = new PassThrough()
    docker.modem.demuxStream(this.connection, stdout, new PassThrough().resume())
    let buffered = ''
    stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8')
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        if (line.trim() !== '') this.onmessage?.(JSON.parse(line))
      }
    })
  }
  async send(message) {
    this.connection.write(`${JSON.stringify(message)}\n`)
  }
  async close() {
    this.connection.destroy()
  }
}

async function directServer() {
  const name = `${SCOPE}-direct-${counter++}`
  await run('docker', ['run', '-d', '-i', '--name', name, '--label', `dtma.scope=${SCOPE}`, ...SANDBOX, IMAGE])
  const container = docker.getContainer(name)
  const connection = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })
  const client = new Client({ name: 'bench-direct', version: '1' })
  await client.connect(new AttachTransport(connection))
  return client
}

const echo = (client, text) => client.callTool({ name: 'echo', arguments: { text } })

// ---- the measures ----------------------------------------------------------------------

async function bridgeOverhead() {
  const name = `bench mcp overhead ${counter++}`
  await deploy(name)
  const [viaAgent, direct] = await Promise.all([agentClient(name), directServer()])
  for (let i = 0; i < 200; i++) await Promise.all([echo(viaAgent, 'warm'), echo(direct, 'warm')])
  const samples = { agent: [], direct: [] }
  for (let i = 0; i < CALLS; i++) {
    let started = now()
    await echo(viaAgent, `call ${i}`)
    samples.agent.push(now() - started)
    started = now()
    await echo(direct, `call ${i}`)
    samples.direct.push(now() - started)
  }
  await Promise.all([viaAgent.close(), direct.close()])
  return { agent: stats(samples.agent), direct: stats(samples.direct) }
}

/** Calls a second for `seconds`, from `workers` loops of calls. */
async function callRate(clients, workers, seconds) {
  let calls = 0
  const until = now() + seconds * 1000
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      const client = clients[worker % clients.length]
      while (now() < until) {
        await echo(client, `w${worker}`)
        calls += 1
      }
    })
  )
  return calls / seconds
}

async function throughput() {
  const name = `bench mcp throughput ${counter++}`
  await deploy(name)
  const direct = await directServer()
  const rows = []
  for (const sessions of [1, 10, 50]) {
    const clients = await Promise.all(Array.from({ length: sessions }, () => agentClient(name)))
    await callRate(clients, sessions, 1)
    const viaAgent = await callRate(clients, sessions, THROUGHPUT_S)
    await Promise.all(clients.map((client) => client.close()))
    await callRate([direct], sessions, 1)
    const own = await callRate([direct], sessions, THROUGHPUT_S)
    rows.push({ sessions, viaAgent, own })
    log(`throughput ${sessions}: agent ${viaAgent.toFixed(0)}/s, direct ${own.toFixed(0)}/s`)
  }
  await direct.close()
  return rows
}

const INITIALIZE = `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } })}\n`

/** `docker run -i` of the same container, initialize written to its stdin, until it is answered. */
async function byHand() {
  const name = `${SCOPE}-hand-${counter++}`
  const started = now()
  const child = spawn('docker', ['run', '-i', '--name', name, '--label', `dtma.scope=${SCOPE}`, ...SANDBOX, IMAGE], { stdio: ['pipe', 'pipe', 'ignore'] })
  child.stdin.write(INITIALIZE)
  await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('"id":1')) resolve()
    })
    child.once('exit', () => reject(new Error(`docker run ended: ${out}`)))
  })
  const ms = now() - started
  child.stdin.end()
  await run('docker', ['rm', '-f', name])
  return ms
}

async function deployToReady() {
  const samples = { agent: [], hand: [] }
  for (let i = 0; i <= DEPLOY_REPS; i++) {
    const name = `bench mcp ready ${counter++}`
    const started = now()
    await deploy(name)
    const agentMs = now() - started
    await api.removeTool({ params: { name } })
    const handMs = await byHand()
    // The first round warms both up and is not counted.
    if (i === 0) continue
    samples.agent.push(agentMs)
    samples.hand.push(handMs)
  }
  return { agent: stats(samples.agent), hand: stats(samples.hand) }
}

async function memory() {
  const served = rssMb(agent.pid)
  const names = Array.from({ length: 50 }, (_, i) => `bench mcp fleet ${i}`)
  for (let i = 0; i < names.length; i += 5) await Promise.all(names.slice(i, i + 5).map(deploy))
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const instances = rssMb(agent.pid)
  const clients = []
  for (const name of names) for (let i = 0; i < 4; i++) clients.push(await agentClient(name))
  await Promise.all(clients.map((client, i) => echo(client, `session ${i}`)))
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const sessions = rssMb(agent.pid)
  await Promise.all(clients.map((client) => client.close()))
  return { served, instances, sessions }
}

// ---- report --------------------------------------------------------------------------

const START = '<!-- mcp:start: written by bench/mcp.mjs -->'
const END = '<!-- mcp:end -->'
const NOTES_MARKER = '<!-- notes: hand-written below, kept by bench/run.mjs -->'

async function machine() {
  const engine = await run('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})']).then((r) => r.stdout.trim(), () => 'unknown')
  return `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Docker engine ${engine}, Node ${process.version}`
}

function section(m, r) {
  const lines = [START, '## MCP bridge', '']
  lines.push(`Generated by \`npm run bench:mcp\` (bench/mcp.mjs) on ${new Date().toISOString().slice(0, 10)}; ${m}.`, '')
  lines.push(`Server: \`${IMAGE}\`, a real MCP server on the official SDK (stdio), in the agent's sandbox either way. Through the agent: the SDK client over Streamable HTTP to \`/tools/{name}/mcp\` (real agent process, loopback, bearer auth; the agent answers with SSE). Direct: the SDK client over the same server's stdin and stdout, attached through the Engine API as the agent attaches. The tool is \`echo\`. Times in ms.`, '')
  const o = r.overhead
  lines.push('| tools/call round trip | p50 | p95 | p99 | n |', '|---|---|---|---|---|')
  lines.push(`| through the agent | ${f(o.agent.p50)} | ${f(o.agent.p95)} | ${f(o.agent.p99)} | ${o.agent.n} |`)
  lines.push(`| direct stdio | ${f(o.direct.p50)} | ${f(o.direct.p95)} | ${f(o.direct.p99)} | ${o.direct.n} |`)
  lines.push(`| added by the agent | ${f(o.agent.p50 - o.direct.p50)} | | ${f(o.agent.p99 - o.direct.p99)} | target p50 < 1 ms: ${verdict(o.agent.p50 - o.direct.p50 < 1)} |`, '')
  lines.push(`Throughput, calls/s over ${THROUGHPUT_S} s: through the agent with N sessions (each calling in a loop) vs the server's own stdio with N calls in flight on its one connection.`, '')
  lines.push('| sessions | through the agent | direct stdio | agent / direct | target >= 0.9 |', '|---|---|---|---|---|')
  for (const row of r.throughput) lines.push(`| ${row.sessions} | ${row.viaAgent.toFixed(0)} | ${row.own.toFixed(0)} | ${(row.viaAgent / row.own).toFixed(2)} | ${verdict(row.viaAgent / row.own >= 0.9)} |`)
  const d = r.ready
  lines.push('', `Deploy to MCP-ready (initialize answered), ${d.agent.n} rounds after one warm-up, interleaved: the agent's POST /tools with waitForMcp (create, start, attach, initialize, tools/list) vs \`docker run -i\` with the same sandbox and initialize written to its stdin by hand.`, '')
  lines.push('| way | median | p95 | target: agent no slower |', '|---|---|---|---|')
  lines.push(`| agent, waitForMcp | ${f(d.agent.p50)} | ${f(d.agent.p95)} | ${verdict(d.agent.p50 <= d.hand.p50)} |`)
  lines.push(`| docker run -i + initialize | ${f(d.hand.p50)} | ${f(d.hand.p95)} | |`, '')
  const mem = r.memory
  lines.push('| agent RSS (MB) | |', '|---|---|')
  lines.push(`| fresh agent, before any of the above | ${r.fresh.toFixed(1)} |`)
  lines.push(`| after the runs above (2 bridged instances) | ${mem.served.toFixed(1)} |`)
  lines.push(`| 50 more bridged stdio instances (attached, monitored) | ${mem.instances.toFixed(1)} |`)
  lines.push(`| and 200 open sessions (4 per instance, each with its SSE stream) | ${mem.sessions.toFixed(1)} |`)
  lines.push(END)
  return lines.join('\n') + '\n'
}

function writeSection(text) {
  let previous = ''
  try {
    previous = readFileSync(OUTPUT, 'utf8')
  } catch {
    // No file yet: the section alone.
  }
  const start = previous.indexOf(START)
  const end = previous.indexOf(END)
  if (start >= 0 && end > start) return writeFileSync(OUTPUT, previous.slice(0, start) + text + previous.slice(end + END.length + 1))
  const notes = previous.indexOf(NOTES_MARKER)
  writeFileSync(OUTPUT, notes >= 0 ? `${previous.slice(0, notes)}${text}\n${previous.slice(notes)}` : `${previous}\n${text}`)
}

async function cleanup() {
  agent?.kill('SIGKILL')
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${SCOPE}`] } })
  for (let i = 0; i < containers.length; i += 20) {
    await Promise.all(containers.slice(i, i + 20).map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
  }
  rmSync(dataDir, { recursive: true, force: true })
  log(`removed ${containers.length} containers of scope ${SCOPE}`)
}

try {
  await run('bash', [new URL('../test-images/mcp/build.sh', import.meta.url).pathname])
  const m = await machine()
  log(`scope ${SCOPE}; ${m}`)
  agent = await startAgent()
  const results = { fresh: rssMb(agent.pid) }
  results.overhead = await bridgeOverhead()
  log(`overhead: agent p50 ${f(results.overhead.agent.p50)} ms, direct p50 ${f(results.overhead.direct.p50)} ms`)
  results.throughput = await throughput()
  results.ready = await deployToReady()
  log(`deploy to ready: agent ${f(results.ready.agent.p50)} ms, by hand ${f(results.ready.hand.p50)} ms`)
  results.memory = await memory()
  log(`rss: ${JSON.stringify(results.memory)}`)
  writeSection(section(m, results))
  log(`wrote the MCP section of ${OUTPUT}`)
} finally {
  await cleanup()
}
