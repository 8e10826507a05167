#!/usr/bin/env node
// `npm run bench`: DTMA against the docker CLI and dockerode direct, in one
// run on this machine, written to BENCHMARKS.md (machine and date included).
// Runs the real agent as production starts it (packages/agent/bin/dtma-agent;
// build first)
// under its own scope label, so it never touches another agent's containers,
// and removes every container of that scope at the end, even on failure.
// Heavy (200 containers): run it alone, not in a loop, not in `npm test`.
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createDtmaClient } from '@dtma/contract'
import Docker from 'dockerode'

const run = promisify(execFile)
const IMAGE = process.env.DTMA_BENCH_IMAGE ?? 'dtma-test/busybox:v1'
const REPS = Number(process.env.DTMA_BENCH_REPS ?? 15)
const STATUS_REQUESTS = 500
const PS_REPS = 15
const STOP_TIMEOUT_S = 2
const SCOPE = `bench-${randomBytes(4).toString('hex')}`
const TOKEN = randomBytes(24).toString('hex')
const HOST_IP = '127.0.0.1'
const PORT_BASE = 32000 + Math.floor(Math.random() * 20) * 100
const AGENT_BIN = new URL('../packages/agent/bin/dtma-agent', import.meta.url).pathname
const OUTPUT = new URL('../BENCHMARKS.md', import.meta.url).pathname

const docker = new Docker({ socketPath: '/var/run/docker.sock' })
const dataDir = mkdtempSync(join(tmpdir(), 'dtma-bench-'))
const agentPort = PORT_BASE + 99
const baseUrl = `http://127.0.0.1:${agentPort}`
const client = createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 120_000 })
let agent

// ---- measuring ---------------------------------------------------------------

const now = () => performance.now()
async function timed(fn) {
  const start = now()
  await fn()
  return now() - start
}
function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]
}
const stats = (samples) => ({ n: samples.length, median: quantile(samples, 0.5), p95: quantile(samples, 0.95), p99: quantile(samples, 0.99) })
const log = (text) => process.stderr.write(`[bench] ${text}\n`)

// ---- the agent process -----------------------------------------------------------

function startAgent() {
  const confFile = join(dataDir, 'empty.conf')
  writeFileSync(confFile, '')
  const child = spawn(AGENT_BIN, [], {
    env: {
      PATH: process.env.PATH,
      BACKEND_TO_DTMA_API_KEY: TOKEN,
      DTMA_CONFIG_FILE: confFile,
      DTMA_DATA_DIR: dataDir,
      PORT: String(agentPort),
      HOST: '127.0.0.1',
      DTMA_TOOL_HOST_IP: HOST_IP,
      DTMA_STOP_TIMEOUT_S: String(STOP_TIMEOUT_S),
      DTMA_SCOPE: SCOPE,
      OFFLINE_MODE: 'true',
      LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return { child, exited }
}

async function waitReady(timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (agent.child.exitCode !== null) throw new Error(`agent exited with ${agent.child.exitCode}`)
    const ok = await fetch(`${baseUrl}/health/ready`).then((r) => r.ok, () => false)
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error('agent not ready')
}

function rssMb(pid) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) / 1024
}

// ---- the three ways to drive a container ---------------------------------------------

const expect = (reply, ...statuses) => {
  if (!statuses.includes(reply.status)) throw new Error(`agent answered ${reply.status}: ${JSON.stringify(reply.body)}`)
  return reply
}
let counter = 0
const nextName = (kind) => `bench ${kind} ${counter++}`
const nextPort = () => PORT_BASE + (counter % 99)

/** The same container each way: the agent's default sandbox (its network,
 *  capabilities, limits, IPC and log settings), restart policy and port
 *  binding, so the engine does the same work for all three. */
const sandbox = {
  network: 'dtma-tools',
  memoryMb: 512,
  pids: 256,
  cpus: 1,
  capAdd: ['CHOWN', 'SETUID', 'SETGID', 'NET_BIND_SERVICE'],
  log: { 'max-size': '10m', 'max-file': '3' }
}
const ways = {
  agent: {
    deploy: async (name, hostPort) =>
      expect(
        await client.deployTool({
          body: {
            dockerImageUrl: IMAGE,
            instanceNameOnToolbox: name,
            accountToolInstanceId: `bench-${name}`,
            baseConfigOverrideJson: { Env: ['MODE=bench'], HostConfig: { PortBindings: hostPort === undefined ? {} : { '8080/tcp': [{ HostPort: String(hostPort) }] } } }
          }
        }),
        201
      ),
    start: async (name) => expect(await client.startTool({ params: { name } }), 200),
    stop: async (name) => expect(await client.stopTool({ params: { name } }), 200),
    remove: async (name) => expect(await client.removeTool({ params: { name } }), 200)
  },
  'docker CLI': {
    deploy: (name, hostPort) =>
      run('docker', [
        'run', '-d', '--name', cliName(name), '--label', `dtma.scope=${SCOPE}`, '--network', sandbox.network,
        '--memory', `${sandbox.memoryMb}m`, '--memory-swap', `${sandbox.memoryMb}m`, '--pids-limit', String(sandbox.pids), '--cpus', String(sandbox.cpus),
        '--security-opt', 'no-new-privileges:true', '--cap-drop', 'ALL', ...sandbox.capAdd.flatMap((cap) => ['--cap-add', cap]), '--ipc', 'private',
        '--log-driver', 'json-file', ...Object.entries(sandbox.log).flatMap(([key, value]) => ['--log-opt', `${key}=${value}`]),
        '--restart', 'unless-stopped', '-e', 'MODE=bench', '-p', `${HOST_IP}:${hostPort}:8080`, IMAGE
      ]),
    start: (name) => run('docker', ['start', cliName(name)]),
    stop: (name) => run('docker', ['stop', '-t', String(STOP_TIMEOUT_S), cliName(name)]),
    remove: (name) => run('docker', ['rm', cliName(name)])
  },
  dockerode: {
    deploy: async (name, hostPort) => {
      const container = await docker.createContainer({
        name: cliName(name),
        Image: IMAGE,
        Env: ['MODE=bench'],
        Labels: { 'dtma.scope': SCOPE },
        ExposedPorts: { '8080/tcp': {} },
        HostConfig: {
          NetworkMode: sandbox.network,
          Memory: sandbox.memoryMb * 1024 * 1024,
          MemorySwap: sandbox.memoryMb * 1024 * 1024,
          PidsLimit: sandbox.pids,
          NanoCpus: sandbox.cpus * 1e9,
          SecurityOpt: ['no-new-privileges:true'],
          CapDrop: ['ALL'],
          CapAdd: sandbox.capAdd,
          IpcMode: 'private',
          LogConfig: { Type: 'json-file', Config: sandbox.log },
          RestartPolicy: { Name: 'unless-stopped' },
          PortBindings: { '8080/tcp': [{ HostIp: HOST_IP, HostPort: String(hostPort) }] }
        }
      })
      await container.start()
    },
    start: (name) => docker.getContainer(cliName(name)).start(),
    stop: (name) => docker.getContainer(cliName(name)).stop({ t: STOP_TIMEOUT_S }),
    remove: (name) => docker.getContainer(cliName(name)).remove()
  }
}
function cliName(name) {
  return `${SCOPE}-${name.replace(/ /g, '-')}`
}

/** What the engine was asked to set up for a container: must be equal for the three ways. */
async function engineSetup(way, name) {
  const id = way === 'agent' ? (await client.getTool({ params: { name } })).body.data.container_id : cliName(name)
  const info = await docker.getContainer(id).inspect()
  const host = info.HostConfig
  return {
    networks: Object.keys(info.NetworkSettings.Networks),
    ...Object.fromEntries(['Memory', 'MemorySwap', 'PidsLimit', 'NanoCpus', 'SecurityOpt', 'CapDrop', 'IpcMode', 'LogConfig', 'RestartPolicy', 'Privileged'].map((key) => [key, host[key]])),
    CapAdd: (host.CapAdd ?? []).map((cap) => cap.replace(/^CAP_/, '')).sort(),
    // Each way binds its own host port; the address and the container port are the same.
    PortBindings: Object.entries(host.PortBindings ?? {}).map(([port, bindings]) => [port, bindings.map((binding) => binding.HostIp)])
  }
}

/** deploy -> stop -> start -> stop -> remove, REPS times, the three ways interleaved
 *  so that drift on a shared machine hits them alike. */
async function lifecycle() {
  const samples = {}
  for (const way of Object.keys(ways)) samples[way] = { deploy: [], start: [], stop: [], remove: [] }
  const setups = {}
  for (let rep = 0; rep < REPS + 1; rep++) {
    for (const [way, ops] of Object.entries(ways)) {
      const name = nextName('life')
      const hostPort = nextPort()
      const times = { deploy: await timed(() => ops.deploy(name, hostPort)) }
      if (rep === 0) setups[way] = JSON.stringify(await engineSetup(way, name))
      Object.assign(times, {
        stop: await timed(() => ops.stop(name)),
        start: await timed(() => ops.start(name))
      })
      await ops.stop(name)
      times.remove = await timed(() => ops.remove(name))
      // The first round warms caches and connections; it is not counted.
      if (rep > 0) for (const [op, ms] of Object.entries(times)) samples[way][op].push(ms)
    }
    if (rep === 0 && new Set(Object.values(setups)).size !== 1) throw new Error(`the three ways made different containers: ${JSON.stringify(setups, null, 1)}`)
    log(`lifecycle round ${rep}/${REPS}`)
  }
  return samples
}

async function deployMany(count, concurrency) {
  const names = Array.from({ length: count }, () => nextName('fleet'))
  const queue = [...names]
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) await ways.agent.deploy(name, undefined)
    })
  )
  return names
}

/** GET /tools/status, and interleaved with it GET /health: a round trip to
 *  the agent that does no work, the floor under the same load and noise. */
async function statusLatency() {
  const status = []
  const floor = []
  for (let i = 0; i < STATUS_REQUESTS + 20; i++) {
    const statusMs = await timed(async () => expect(await client.listToolStatus(), 200))
    const floorMs = await timed(async () => expect(await client.health(), 200))
    if (i < 20) continue
    status.push(statusMs)
    floor.push(floorMs)
  }
  return { status: stats(status), floor: stats(floor) }
}

async function dockerPsLatency() {
  const samples = []
  for (let i = 0; i < PS_REPS; i++) samples.push(await timed(() => run('docker', ['ps', '-a', '--filter', `label=dtma.scope=${SCOPE}`])))
  return stats(samples)
}

async function restartToReady(reps) {
  const fromSpawn = []
  const fromKill = []
  for (let i = 0; i < reps; i++) {
    const killedAt = now()
    agent.child.kill('SIGKILL')
    await agent.exited
    const spawnedAt = now()
    agent = startAgent()
    await waitReady()
    fromSpawn.push(now() - spawnedAt)
    fromKill.push(now() - killedAt)
  }
  return { fromSpawn: stats(fromSpawn), fromKill: stats(fromKill) }
}

/** docker rm -f behind the agent; time until GET /tools/{name} is running again
 *  on a new container. */
async function repair(names, reps) {
  const samples = []
  for (const name of names.slice(0, reps)) {
    const before = expect(await client.getTool({ params: { name } }), 200).body.data.container_id
    const start = now()
    await docker.getContainer(before).remove({ force: true })
    for (;;) {
      const reply = await client.getTool({ params: { name } })
      if (reply.status === 200 && reply.body.data.container_id !== before && reply.body.data.status === 'running') break
      if (now() - start > 60_000) throw new Error(`${name} not repaired within 60 s`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    samples.push(now() - start)
  }
  return stats(samples)
}

async function cleanup() {
  agent?.child.kill('SIGKILL')
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${SCOPE}`] } })
  for (let i = 0; i < containers.length; i += 20) {
    await Promise.all(containers.slice(i, i + 20).map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
  }
  rmSync(dataDir, { recursive: true, force: true })
  log(`removed ${containers.length} containers of scope ${SCOPE}`)
}

// ---- report ---------------------------------------------------------------------------

async function machine() {
  const dockerVersion = await run('docker', ['version', '--format', 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), CLI {{.Client.Version}}']).then((r) => r.stdout.trim(), () => 'unknown')
  const kernel = (await run('uname', ['-sr'])).stdout.trim()
  return `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${kernel}, Docker ${dockerVersion}, Node ${process.version}`
}

const f = (ms) => (ms < 10 ? ms.toFixed(2) : ms.toFixed(1))
const verdict = (ok) => (ok ? 'met' : '**missed**')

function report(m, r) {
  const lines = []
  lines.push('# DTMA benchmarks', '')
  lines.push(`Generated by \`npm run bench\` (bench/run.mjs) on ${new Date().toISOString().slice(0, 10)}.`, '')
  lines.push(`Machine: ${m}.`, '')
  lines.push(
    `Image \`${IMAGE}\` (busybox httpd), present locally. Each lifecycle op is measured ${REPS} times per way (after one uncounted warm-up round), the three ways interleaved: through the agent (typed client over HTTP on loopback, real agent process), the docker CLI (\`docker run -d\` / \`start\` / \`stop -t ${STOP_TIMEOUT_S}\` / \`rm\`, a process per op, as an operator or a shell-out agent would) and dockerode direct (the same library the agent uses, without the agent). All three create the same container, checked with \`docker inspect\` in the warm-up round: the agent's default sandbox (network \`${sandbox.network}\`, all capabilities dropped but ${sandbox.capAdd.join(', ')}, memory, swap, pids and CPU limits, private IPC, no-new-privileges, capped json-file logs), restart policy unless-stopped, one port bound to ${HOST_IP}. The agent runs as production starts it (\`packages/agent/bin/dtma-agent\`). Times in ms.`,
    ''
  )
  lines.push('## Lifecycle (ms)', '')
  lines.push('| op | agent median | agent p95 | docker CLI median | docker CLI p95 | dockerode median | dockerode p95 | agent / CLI (median) | target <= 0.9 |')
  lines.push('|---|---|---|---|---|---|---|---|---|')
  for (const op of ['deploy', 'start', 'stop', 'remove']) {
    const a = stats(r.lifecycle.agent[op])
    const c = stats(r.lifecycle['docker CLI'][op])
    const d = stats(r.lifecycle.dockerode[op])
    const ratio = a.median / c.median
    lines.push(`| ${op}${op === 'deploy' ? ' (until running)' : ''} | ${f(a.median)} | ${f(a.p95)} | ${f(c.median)} | ${f(c.p95)} | ${f(d.median)} | ${f(d.p95)} | ${ratio.toFixed(2)} | ${verdict(ratio <= 0.9)} |`)
  }
  lines.push('', '## Status (ms)', '')
  lines.push(`GET /tools/status through the typed client: ${STATUS_REQUESTS} sequential requests after 20 warm-up, each followed by a GET /health (the floor: a round trip to the agent that does no work, under the same load); \`docker ps -a\` filtered by the bench's label: ${PS_REPS} runs.`, '')
  lines.push('| instances | GET /tools/status median | p95 | p99 | GET /health median | p99 | docker ps median | docker ps p95 | docker ps / agent (median) | target p99 < 5 ms and >= 20x |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const [count, s] of r.status) {
    const { status, floor } = s.agent
    const speedup = s.ps.median / status.median
    lines.push(`| ${count} | ${f(status.median)} | ${f(status.p95)} | ${f(status.p99)} | ${f(floor.median)} | ${f(floor.p99)} | ${f(s.ps.median)} | ${f(s.ps.p95)} | ${speedup.toFixed(0)}x | ${verdict(status.p99 < 5 && speedup >= 20)} |`)
  }
  lines.push('', '## Fleet', '')
  lines.push('| measure | median | p95 | target |', '|---|---|---|---|')
  lines.push(`| 50 concurrent deploys: wall time of all 50 | ${f(r.concurrent.wallMs)} | | |`)
  lines.push(`| 50 concurrent deploys: one deploy | ${f(r.concurrent.each.median)} | ${f(r.concurrent.each.p95)} | |`)
  lines.push(`| agent RSS with 200 running instances (MB) | ${r.rssMb.toFixed(1)} | | < 80: ${verdict(r.rssMb < 80)} |`)
  lines.push(`| restart-to-ready, 200 instances: spawn to /health/ready 200 (n=${r.restart.fromSpawn.n}) | ${f(r.restart.fromSpawn.median)} | ${f(r.restart.fromSpawn.p95)} | |`)
  lines.push(`| restart-to-ready, 200 instances: kill -9 to /health/ready 200 | ${f(r.restart.fromKill.median)} | ${f(r.restart.fromKill.p95)} | |`)
  lines.push(`| agent RSS right after that restart (MB) | ${r.rssAfterRestartMb.toFixed(1)} | | |`)
  lines.push(`| repair after \`docker rm -f\` (200 instances): rm to running again (n=${r.repair.n}) | ${f(r.repair.median)} | ${f(r.repair.p95)} | |`)
  return lines.join('\n') + '\n'
}

/** Hand-written notes below this marker survive a new run. */
const NOTES_MARKER = '<!-- notes: hand-written below, kept by bench/run.mjs -->'

async function main() {
  if (!existsSync(AGENT_BIN)) throw new Error('build first: npx tsc -b')
  await docker.getImage(IMAGE).inspect()
  const m = await machine()
  log(`scope ${SCOPE}, ${REPS} reps; ${m}`)
  agent = startAgent()
  await waitReady()

  const results = { status: [] }
  results.lifecycle = await lifecycle()

  const fleet = await deployMany(10, 5)
  results.status.push([10, { agent: await statusLatency(), ps: await dockerPsLatency() }])
  log('status at 10 done')

  const each = []
  const concurrentNames = Array.from({ length: 50 }, () => nextName('concurrent'))
  const wallMs = await timed(() => Promise.all(concurrentNames.map(async (name) => each.push(await timed(() => ways.agent.deploy(name, undefined))))))
  results.concurrent = { wallMs, each: stats(each) }
  fleet.push(...concurrentNames, ...(await deployMany(40, 8)))
  results.status.push([100, { agent: await statusLatency(), ps: await dockerPsLatency() }])
  log('status at 100 done')

  fleet.push(...(await deployMany(100, 8)))
  results.status.push([200, { agent: await statusLatency(), ps: await dockerPsLatency() }])
  results.rssMb = rssMb(agent.child.pid)
  log('status at 200 done')

  results.restart = await restartToReady(5)
  await statusLatency() // the restarted agent has served a while, as in production
  results.rssAfterRestartMb = rssMb(agent.child.pid)
  results.repair = await repair(fleet, 10)

  let notes = ''
  if (existsSync(OUTPUT)) {
    const previous = readFileSync(OUTPUT, 'utf8')
    const at = previous.indexOf(NOTES_MARKER)
    if (at >= 0) notes = previous.slice(at + NOTES_MARKER.length)
  }
  writeFileSync(OUTPUT, report(m, results) + '\n' + NOTES_MARKER + notes)
  log(`wrote ${OUTPUT}`)
}

try {
  await main()
} finally {
  await cleanup()
}
