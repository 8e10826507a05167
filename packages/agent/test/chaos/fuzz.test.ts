// Fuzz and chaos: thousands of generated malformed or hostile requests against
// the real agent binary on a real port (random bodies, wrong types, huge
// strings, path traversal, encoded slashes, unicode, duplicate headers, bad
// framing, slow bodies, and MCP requests to a real stdio MCP server: real and
// made-up sessions, wrong headers, valid and broken JSON-RPC). Asserted: no 5xx, no crash, every error body is the
// contract's ErrorBody (a JSON-RPC error on the MCP endpoint), and the agent's containers and store rows are the same
// afterwards. Size and seed: DTMA_FUZZ_REQUESTS (default 10000), DTMA_FUZZ_SEED.
import { randomBytes } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { ErrorBody, McpErrorBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { InstanceStore } from '../../src/store/instance-store.ts'
import { docker, freePort, scopeFor, tempDir, TEST_IMAGE, TOKEN } from '../helpers/agent.ts'
import { spawnAgent } from '../helpers/agent-process.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody } from '../helpers/mcp.ts'
import { authorization, CONTENT_TYPES, Dice, hostileDeployBody, hostileMcpRequest, hostilePath, METHODS, prng, randomJson, rawRequest } from './hostile-requests.ts'

t.before(ensureMcpImages)

const TOTAL = Number(process.env.DTMA_FUZZ_REQUESTS ?? 10_000)
const SEED = Number(process.env.DTMA_FUZZ_SEED ?? 20250611)
const CONCURRENCY = 16
/** Slow clients run beside the rest; each is held up to the agent's request timeout. */
const SLOW_CLIENTS = Math.min(40, Math.ceil(TOTAL / 250))
const REQUEST_TIMEOUT_S = 2

interface Outcome {
  kind: string
  status: number | 'no-response' | 'hang'
  body: string
  what: string
}

/** One HTTP exchange through Node's client; stream routes are cut after the headers.
 *  A body goes with its Content-Length, as fetch sends it: Node's client
 *  frames none for GET and DELETE, and the unframed bytes would reach the
 *  agent as the next request on the kept-alive connection. (Bad framing has
 *  its own cases among the raw requests.) */
function send(port: number, agent: Agent, method: string, path: string, headers: Record<string, string | string[]>, body: string | undefined): Promise<Omit<Outcome, 'kind' | 'what'>> {
  if (body !== undefined) headers = { ...headers, 'content-length': String(Buffer.byteLength(body)) }
  return new Promise((resolve) => {
    let settled = false
    const done = (outcome: Omit<Outcome, 'kind' | 'what'>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const timer = setTimeout(() => {
      done({ status: 'hang', body: '' })
      req.destroy()
    }, 10_000)
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream') || (res.statusCode === 200 && /follow=(true|1)/.test(path))) {
        res.destroy()
        return done({ status: res.statusCode ?? 0, body: '' })
      }
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => done({ status: res.statusCode ?? 0, body: text }))
      res.on('error', () => done({ status: res.statusCode ?? 0, body: text }))
    })
    // A server that answers early (413) and closes may reset a large upload:
    // that is a refusal, not a failure, when it happens before any answer.
    req.on('error', () => done({ status: 'no-response', body: '' }))
    if (body !== undefined) req.write(body)
    req.end()
  })
}

/** Writes raw bytes, reads until the server closes, parses status and body. */
function sendRaw(port: number, payload: string | Buffer, slowMs = 0): Promise<Omit<Outcome, 'kind' | 'what'>> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => socket.destroy(), 15_000)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('utf8')
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text)
      if (!match) return resolve({ status: 'no-response', body: text })
      resolve({ status: Number(match[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
    if (slowMs === 0) return void socket.write(payload)
    // Slowloris: a byte at a time, never finishing; the agent must cut it.
    const bytes = Buffer.from(payload)
    let index = 0
    const drip = setInterval(() => {
      if (socket.destroyed || index >= bytes.length) return clearInterval(drip)
      socket.write(bytes.subarray(index, index + 1))
      index += 1
    }, slowMs)
  })
}

async function scopeContainers(scope: string): Promise<string[]> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scope}`] } })
  return containers.map((c) => `${c.Id} ${c.Names.join(',')} ${c.Image} ${c.State}`).sort()
}

function storeRows(dataDir: string): string[] {
  const store = new InstanceStore(dataDir)
  try {
    return store.list().map((record) => JSON.stringify({ ...record, updatedAt: undefined }))
  } finally {
    store.close()
  }
}

t.test(`fuzz: ${TOTAL} hostile requests against the real agent (seed ${SEED})`, async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const agentProcess = spawnAgent(dataDir, port, {
    LOG_LEVEL: 'warn',
    DTMA_REQUEST_TIMEOUT_S: String(REQUEST_TIMEOUT_S),
    DTMA_PULL_TIMEOUT_MS: '2000',
    // The failed-auth limit would turn most of the run into 429s from
    // 127.0.0.1; it has its own test.
    DTMA_AUTH_FAILURE_LIMIT: '1000000000',
    // Every fuzzed initialize opens a session: the session limit (a 503) has its own test.
    DTMA_MCP_MAX_SESSIONS: '1000000',
    DTMA_TOOL_PORT_RANGE: '43450-43499'
  })
  t.teardown(() => agentProcess.kill())
  await agentProcess.ready()

  // A real instance, so "unchanged" is about something.
  const baselineName = `Fuzz Baseline ${randomBytes(4).toString('hex')}`
  const deployed = await agentProcess.client.deployTool({
    body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: baselineName, accountToolInstanceId: 'ati-fuzz-baseline', baseConfigOverrideJson: { Env: ['SECRET_KEY=fuzz-baseline'] } }
  })
  if (deployed.status !== 201) throw new Error(`baseline deploy answered ${deployed.status}`)
  t.teardown(async () => {
    await docker.getContainer(deployed.body.data.container_id).remove({ force: true }).catch(() => undefined)
  })
  // A real stdio MCP server, and a few real sessions of it for the MCP requests to use.
  const mcpName = `Fuzz Mcp ${randomBytes(4).toString('hex')}`
  const mcpDeployed = await agentProcess.client.deployTool({ body: { ...mcpDeployBody(mcpName, MCP_IMAGES.toolsV1, 'stdio'), waitForMcp: true } })
  if (mcpDeployed.status !== 201) throw new Error(`MCP baseline deploy answered ${mcpDeployed.status}`)
  t.teardown(async () => {
    await docker.getContainer(mcpDeployed.body.data.container_id).remove({ force: true }).catch(() => undefined)
  })
  const mcpPath = `/tools/${encodeURIComponent(mcpName)}/mcp`
  const sessions: string[] = []
  for (let i = 0; i < 4; i++) {
    const opened = await fetch(`${agentProcess.baseUrl}${mcpPath}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } })
    })
    sessions.push(opened.headers.get('mcp-session-id') ?? '')
    await opened.body?.cancel()
  }
  const scope = scopeFor(dataDir)
  const containersBefore = await scopeContainers(scope)
  const rowsBefore = storeRows(dataDir)

  const dice = new Dice(prng(SEED))
  const httpAgent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  t.teardown(() => httpAgent.destroy())
  const outcomes: Outcome[] = []

  // Each request is drawn up front from the seed, so the run replays whatever the timing.
  type Job = () => Promise<Outcome>
  const jobs: Job[] = []
  for (let i = 0; i < TOTAL - SLOW_CLIENTS; i++) {
    const roll = dice.int(100)
    if (roll < 40) {
      const { body, invalidation } = hostileDeployBody(dice)
      const headers: Record<string, string | string[]> = { 'content-type': dice.chance(0.9) ? 'application/json' : dice.pick(CONTENT_TYPES) }
      const auth = dice.chance(0.9) ? `Bearer ${TOKEN}` : authorization(dice, TOKEN)
      if (auth !== undefined) headers.authorization = auth
      jobs.push(async () => ({ kind: 'deploy', what: `POST /tools invalidation #${invalidation} ${body.slice(0, 200)}`, ...(await send(port, httpAgent, 'POST', '/tools', headers, body)) }))
    } else if (roll < 50) {
      const body = dice.chance(0.5) ? JSON.stringify(randomJson(dice)) : dice.text(dice.int(300))
      const headers: Record<string, string | string[]> = { 'content-type': dice.pick(CONTENT_TYPES), authorization: `Bearer ${TOKEN}` }
      const method = dice.pick(['POST', 'POST', 'DELETE', 'PUT'])
      const path = dice.chance(0.7) ? '/tools' : hostilePath(dice)
      jobs.push(async () => ({ kind: 'random-body', what: `${method} ${path} ${body.slice(0, 200)}`, ...(await send(port, httpAgent, method, path, headers, body)) }))
    } else if (roll < 62) {
      const { method, headers, body } = hostileMcpRequest(dice, sessions)
      const auth = dice.chance(0.95) ? `Bearer ${TOKEN}` : authorization(dice, TOKEN)
      if (auth !== undefined) headers.authorization = auth as string
      const path = dice.chance(0.9) ? mcpPath : `/tools/${encodeURIComponent(`Fuzz Nobody ${dice.int(1000)}`)}/mcp`
      jobs.push(async () => ({ kind: 'mcp', what: `${method} ${path} ${JSON.stringify(headers).slice(0, 200)} ${body?.slice(0, 200) ?? ''}`, ...(await send(port, httpAgent, method, path, headers, body)) }))
    } else if (roll < 85) {
      const method = dice.pick(METHODS)
      const path = hostilePath(dice)
      const headers: Record<string, string | string[]> = {}
      const auth = authorization(dice, TOKEN)
      if (auth !== undefined) headers.authorization = auth
      if (dice.chance(0.2)) headers['x-forwarded-for'] = dice.pick(['1.2.3.4', '127.0.0.1, 10.0.0.1', '\u00e9'])
      const body = method === 'POST' && dice.chance(0.3) ? JSON.stringify(randomJson(dice)) : undefined
      if (body !== undefined) headers['content-type'] = 'application/json'
      jobs.push(async () => ({ kind: 'path', what: `${method} ${path}`, ...(await send(port, httpAgent, method, path, headers, body)) }))
    } else {
      const payload = rawRequest(dice, port, TOKEN)
      jobs.push(async () => ({ kind: 'raw', what: JSON.stringify(payload.slice(0, 160)), ...(await sendRaw(port, payload)) }))
    }
  }
  const slowJobs: Job[] = Array.from({ length: SLOW_CLIENTS }, (_, i) => {
    const body = '{"dockerImageUrl":"busybox","instanceNameOnToolbox":"slow"}'
    const payload =
      i % 2 === 0
        ? `POST /tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 100}\r\n\r\n${body}`
        : `GET /tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nX-Slow: ${'s'.repeat(200)}`
    return async () => ({ kind: 'slow', what: `slowloris ${i % 2 === 0 ? 'body' : 'headers'}`, ...(await sendRaw(port, payload, 150)) })
  })

  const started = Date.now()
  const slow = Promise.all(slowJobs.map(async (job) => outcomes.push(await job())))
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++] as Job
        outcomes.push(await job())
      }
    })
  )
  await slow
  const seconds = (Date.now() - started) / 1000

  // ---- figures -----------------------------------------------------------------
  const histogram: Record<string, number> = {}
  const byKind: Record<string, number> = {}
  for (const outcome of outcomes) {
    histogram[String(outcome.status)] = (histogram[String(outcome.status)] ?? 0) + 1
    byKind[outcome.kind] = (byKind[outcome.kind] ?? 0) + 1
  }
  const serverErrors = outcomes.filter((o) => typeof o.status === 'number' && o.status >= 500)
  const badBodies = outcomes.filter((o) => {
    if (typeof o.status !== 'number' || o.status < 400 || o.what.startsWith('HEAD')) return false
    try {
      // The MCP endpoint refuses with JSON-RPC errors (what is refused before routing is still an ErrorBody).
      const body = JSON.parse(o.body) as unknown
      return !Value.Check(ErrorBody, body) && !(/^\S+ \S*\/mcp(\?\S*)?( |$)/.test(o.what) && Value.Check(McpErrorBody, body))
    } catch {
      return true
    }
  })
  const hangs = outcomes.filter((o) => o.status === 'hang')
  const silent = outcomes.filter((o) => o.status === 'no-response')
  const slowCut = outcomes.filter((o) => o.kind === 'slow' && o.status === 408)
  t.comment(`fuzz seed ${SEED}: ${outcomes.length} requests in ${seconds.toFixed(1)} s; by kind ${JSON.stringify(byKind)}`)
  t.comment(`fuzz statuses ${JSON.stringify(Object.fromEntries(Object.entries(histogram).sort()))}`)
  t.comment(`fuzz 5xx: ${serverErrors.length}; error bodies off-contract: ${badBodies.length}; hangs: ${hangs.length}; closed without an answer: ${silent.length} (${[...new Set(silent.map((o) => o.kind))].join(',')}); slow clients cut with 408: ${slowCut.length}/${SLOW_CLIENTS}`)

  t.equal(outcomes.length, TOTAL, 'every request was sent')
  t.same(serverErrors.slice(0, 5).map((o) => `${o.status} ${o.what} -> ${o.body.slice(0, 200)}`), [], 'no response with status 5xx')
  const firstBadByStatus = [...new Map(badBodies.map((o) => [o.status, o])).values()]
  t.same(firstBadByStatus.map((o) => `${o.status} ${o.what} -> ${o.body.slice(0, 200)}`), [], 'every error body is the contract ErrorBody (a JSON-RPC error on the MCP endpoint)')
  t.same(hangs.slice(0, 5).map((o) => o.what), [], 'no request hangs')
  t.equal(slowCut.length, SLOW_CLIENTS, 'every slow client is cut with a 408')
  // Only an upload the agent refused early (413) may be reset before its answer is read.
  // A connection whose first byte is 0x16 is TLS (the agent's one port speaks both): a cut ClientHello
  // gets no HTTP answer, the TLS side closes it (no hang: counted above).
  const tlsHello = (o: (typeof outcomes)[number]) => o.kind === 'raw' && o.what.startsWith('"\\u0016')
  t.same(silent.filter((o) => !(o.kind === 'deploy' && o.what.includes('BIG=')) && !tlsHello(o)).map((o) => o.what).slice(0, 5), [], 'nothing else goes unanswered')

  if (agentProcess.child.exitCode !== null) t.comment(`agent output (tail): ${agentProcess.output().slice(-3000)}`)
  t.equal(agentProcess.child.exitCode, null, 'the agent did not crash')
  t.equal(await fetch(`${agentProcess.baseUrl}/health`).then((r) => r.text()), 'OK', 'and still answers')
  t.same(await scopeContainers(scope), containersBefore, 'the containers are the same')
  await agentProcess.kill('SIGTERM')
  t.equal(agentProcess.child.exitCode, 0, 'SIGTERM after the run: a clean exit')
  t.same(storeRows(dataDir), rowsBefore, 'the store rows are the same')
  t.notMatch(agentProcess.output(), /"level":(50|60)/, 'no error or fatal log line')
})
