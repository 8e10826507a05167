#!/usr/bin/env node
// `npm run bench:mcp` (also the last part of `npm run bench`): DTMA's MCP bridge
// side by side with the two bridges a user would pick instead (supergateway
// --stateful and mcp-proxy, from npm into a temporary directory, never the
// project's dependencies) and the two floors with no bridge, in one run on this
// machine, interleaved, the same server and the same SDK client everywhere
// (bench/mcp/targets.mjs). Written into BENCHMARKS.md as its MCP section (the
// rest of the file is bench/run.mjs's and the hand-written notes).
//   - tools/call p50/p95/p99 with 1 session, one call to each target in turn;
//   - calls/s with 1, 10 and 50 sessions, rounds interleaved target by target;
//   - CPU per 1,000 calls of each bridge process, of its servers and of dockerd
//     (/proc/PID/stat over the measured windows);
//   - RSS idle and with 50 sessions open, bridge + servers;
//   - wrong or failed answers: every call echoes a unique token, checked.
// The agent runs as production starts it under its own scope label; every
// container of that scope is removed at the end, even on failure.
// Knobs: DTMA_BENCH_MCP_CALLS (latency calls per target, 2000),
// DTMA_BENCH_MCP_SECONDS (each throughput window, 3), DTMA_BENCH_MCP_ROUNDS (2).
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createDtmaClient, SCOPES, signToolboxToken } from '@dtma/contract'
import Docker from 'dockerode'
import { cpuOf, dockerdPid, rssOf } from './mcp/procs.mjs'
import { machine, section, writeSection } from './mcp/report.mjs'
import { dockerAttach, dtma, localStdio, mcpProxy, preparePeers, supergateway } from './mcp/targets.mjs'

const run = promisify(execFile)
const IMAGE = 'dtma-test/mcp-tools:v1'
const CALLS = Number(process.env.DTMA_BENCH_MCP_CALLS ?? 2000)
const WINDOW_S = Number(process.env.DTMA_BENCH_MCP_SECONDS ?? 3)
const ROUNDS = Number(process.env.DTMA_BENCH_MCP_ROUNDS ?? 2)
const LEVELS = [1, 10, 50]
const SCOPE = `bench-mcp-${randomBytes(4).toString('hex')}`
// The agent checks tokens signed with its per-VM secret; one all-scope token serves deploy and MCP.
const SECRET = randomBytes(24).toString('hex')
const AUDIENCE = 'dtma:bench-mcp'
const TOKEN = await signToolboxToken(SECRET, { audience: AUDIENCE, scopes: SCOPES, lifetimeSeconds: 3600, subject: 'bench-mcp' })
const AGENT_BIN = new URL('../packages/agent/bin/dtma-agent', import.meta.url).pathname
const OUTPUT = new URL('../BENCHMARKS.md', import.meta.url).pathname

const docker = new Docker({ socketPath: '/var/run/docker.sock' })
const dataDir = mkdtempSync(join(tmpdir(), 'dtma-bench-mcp-'))
const peersDir = mkdtempSync(join(tmpdir(), 'dtma-bench-peers-'))
const port = () => 33000 + Math.floor(Math.random() * 2000)
const agentPort = port()
const baseUrl = `http://127.0.0.1:${agentPort}`
const api = createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 300_000 })
const log = (text) => process.stderr.write(`[bench:mcp] ${text}\n`)
const now = () => performance.now()
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
let agent
const targets = []

// ---- the agent, as production starts it ---------------------------------------------

async function startAgent() {
  const confFile = join(dataDir, 'empty.conf')
  writeFileSync(confFile, '')
  const child = spawn(AGENT_BIN, [], {
    env: { PATH: process.env.PATH, DTMA_BEARER_TOKEN: SECRET, DTMA_TOKEN_AUDIENCE: AUDIENCE, DTMA_TOKEN_MAX_LIFETIME_S: '3600', DTMA_MCP_TOKEN_MAX_LIFETIME_S: '3600', DTMA_CONFIG_FILE: confFile, DTMA_DATA_DIR: dataDir, PORT: String(agentPort), HOST: '127.0.0.1', DTMA_TOOL_HOST_IP: '127.0.0.1', DTMA_SCOPE: SCOPE, DTMA_STOP_TIMEOUT_S: '2', OFFLINE_MODE: 'true', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (await fetch(`${baseUrl}/health/ready`).then((r) => r.ok, () => false)) return child
    await pause(20)
  }
  throw new Error('agent not ready')
}

async function dtmaTarget() {
  const name = 'bench mcp peers'
  const body = { dockerImageUrl: IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: 'bench-peers', baseConfigOverrideJson: { mcpTransport: 'stdio', mcpCapabilities: ['tools'] }, waitForMcp: true }
  const reply = await api.deployTool({ body })
  if (reply.status !== 201) throw new Error(`deploy answered ${reply.status}: ${JSON.stringify(reply.body)}`)
  const [container] = await docker.listContainers({ filters: { label: [`dtma.scope=${SCOPE}`] } })
  const containerPid = (await docker.getContainer(container.Id).inspect()).State.Pid
  return dtma({ agentPid: agent.pid, baseUrl, name, token: TOKEN, containerPid })
}

// ---- calls, each checked -------------------------------------------------------------

const tally = new Map() // target key -> { calls, wrong, failed }
let serial = 0
async function echo(target, client) {
  const token = `${target.key}-${serial++}-${randomBytes(4).toString('hex')}`
  const count = tally.get(target.key)
  count.calls += 1
  try {
    const result = await client.callTool({ name: 'echo', arguments: { text: token } })
    if (result.content?.[0]?.text !== token || result.isError) count.wrong += 1
  } catch {
    count.failed += 1
  }
}

function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}

async function latency() {
  const clients = await Promise.all(targets.map((t) => t.session()))
  for (let i = 0; i < 200; i++) for (const [j, t] of targets.entries()) await echo(t, clients[j])
  const samples = targets.map(() => [])
  for (let i = 0; i < CALLS; i++) {
    // Each round calls every target once, starting from a different one.
    for (let k = 0; k < targets.length; k++) {
      const j = (i + k) % targets.length
      const started = now()
      await echo(targets[j], clients[j])
      samples[j].push(now() - started)
    }
  }
  await Promise.all(targets.map((t, j) => t.endSession(clients[j])))
  return Object.fromEntries(targets.map((t, j) => [t.key, { p50: quantile(samples[j], 0.5), p95: quantile(samples[j], 0.95), p99: quantile(samples[j], 0.99), n: samples[j].length }]))
}

/** Calls completed in `seconds` by `workers` loops, worker w on clients[w % n]. */
async function callLoops(target, clients, workers, seconds) {
  let calls = 0
  const until = now() + seconds * 1000
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (now() < until) {
        await echo(target, clients[w % clients.length])
        calls += 1
      }
    })
  )
  return calls
}

async function openSessions(target, n) {
  const clients = []
  for (let i = 0; i < n; i += 10) clients.push(...(await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => target.session()))))
  return clients
}

const cell = () => ({ calls: 0, seconds: 0, bridgeMs: 0, serverMs: 0, dockerdMs: 0, openS: [], rss: [] })

async function throughput(dockerd) {
  const result = Object.fromEntries(targets.map((t) => [t.key, Object.fromEntries(LEVELS.map((n) => [n, cell()]))]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const sessions of LEVELS) {
      for (let k = 0; k < targets.length; k++) {
        const target = targets[(round + k) % targets.length]
        const c = result[target.key][sessions]
        const opened = now()
        const clients = await openSessions(target, sessions)
        c.openS.push((now() - opened) / 1000)
        await callLoops(target, clients, sessions, 0.5)
        const servers = target.serverPids()
        const before = { bridge: target.bridgePid ? cpuOf([target.bridgePid]) : 0, server: cpuOf(servers), dockerd: cpuOf([dockerd]), at: now() }
        const calls = await callLoops(target, clients, sessions, WINDOW_S)
        c.seconds += (now() - before.at) / 1000
        c.calls += calls
        c.bridgeMs += (target.bridgePid ? cpuOf([target.bridgePid]) : 0) - before.bridge
        c.serverMs += cpuOf(servers) - before.server
        c.dockerdMs += cpuOf([dockerd]) - before.dockerd
        if (sessions === 50) c.rss.push({ bridge: target.bridgePid ? rssOf([target.bridgePid]) : 0, servers: rssOf(target.serverPids()), processes: target.serverPids().length })
        for (let i = 0; i < clients.length; i += 10) await Promise.all(clients.slice(i, i + 10).map((client) => target.endSession(client)))
        log(`round ${round + 1}, ${sessions} sessions, ${target.label}: ${(calls / WINDOW_S).toFixed(0)} calls/s`)
      }
    }
  }
  return result
}

// ---- run -------------------------------------------------------------------------------

async function cleanup() {
  for (const target of targets) await target.stop().catch(() => undefined)
  agent?.kill('SIGKILL')
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${SCOPE}`] } })
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
  rmSync(dataDir, { recursive: true, force: true })
  rmSync(peersDir, { recursive: true, force: true })
  log(`removed ${containers.length} containers of scope ${SCOPE}`)
}

try {
  const started = now()
  await run('bash', [new URL('../test-images/mcp/build.sh', import.meta.url).pathname])
  await preparePeers(peersDir, IMAGE)
  const m = await machine()
  log(`scope ${SCOPE}; ${m}`)
  const loadBefore = loadavg()
  agent = await startAgent()
  targets.push(await dtmaTarget(), await supergateway(peersDir, port()), await mcpProxy(peersDir, port() + 2000), await localStdio(peersDir), await dockerAttach(docker, IMAGE, `${SCOPE}-direct`, SCOPE))
  for (const t of targets) tally.set(t.key, { calls: 0, wrong: 0, failed: 0 })
  await pause(1000)
  const idle = Object.fromEntries(targets.map((t) => [t.key, (t.bridgePid ? rssOf([t.bridgePid]) : 0) + rssOf(t.serverPids())]))
  const dockerd = dockerdPid()
  const lat = await latency()
  log(`p50: ${targets.map((t) => `${t.label} ${lat[t.key].p50.toFixed(2)} ms`).join(', ')}`)
  const rates = await throughput(dockerd)
  const results = { targets: targets.map(({ key, label }) => ({ key, label })), idle, lat, rates, tally: Object.fromEntries(tally), window: WINDOW_S, rounds: ROUNDS, calls: CALLS, image: IMAGE, load: [loadBefore, loadavg()], minutes: (now() - started) / 60_000 }
  writeFileSync(join(tmpdir(), 'dtma-bench-mcp-last.json'), JSON.stringify(results, null, 2))
  writeSection(OUTPUT, section(m, results))
  log(`wrote the MCP section of ${OUTPUT} (${results.minutes.toFixed(1)} min)`)
} finally {
  await cleanup()
}
