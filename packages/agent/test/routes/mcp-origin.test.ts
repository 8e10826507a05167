// The Origin rule of /tools/{name}/mcp with the default settings
// (DTMA_MCP_ALLOWED_ORIGINS empty), on a real stdio server: no Origin is
// accepted, the request's own origin is when its Host cannot be a rebinding
// name (an IP address, localhost), any other is a 403; a listed one is
// accepted; over TLS its own origin is accepted by any name. And the
// official conformance suite's scenarios (DNS rebinding, initialize, ping, the tools listing), run as its CLI runs them. They send no credential (they stand for
// unauthenticated local servers), so they reach the agent through a hop that
// adds a bearer token, a scoped mcp token of the one instance and one tool as
// an AI agent holds, and changes nothing else (Host and Origin pass as sent).
import { execFile, execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { request as tlsRequest } from 'node:https'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { signToolboxToken } from '@dtma/contract'
import { startTestAgent, tempDir, TEST_AUDIENCE, TOKEN, uniqueName, VM_TOKEN, type TestAgent } from '../helpers/agent.ts'
import { credentialHop } from '../helpers/conformance.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43720-43729' }
const conformanceCli = fileURLToPath(new URL('../../../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url))
const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'origin-test', version: '1' } } })

/** The account_tool_instance_id of each instance deployed here, by name. */
const instanceIds = new Map<string, string>()

/** Deploys the tools server (over TLS when given the agent's certificate: the typed client speaks plain HTTP here). */
async function deploy(t: Test, agent: TestAgent, ca?: Buffer): Promise<string> {
  const name = uniqueName('Origin')
  agent.deployBody(name)
  const body = { ...mcpDeployBody(name, MCP_IMAGES.toolsV1, 'stdio'), waitForMcp: true }
  instanceIds.set(name, body.accountToolInstanceId)
  const status = ca === undefined ? (await agent.client.deployTool({ body })).status : (await post(agent.port, '/tools', `127.0.0.1:${agent.port}`, undefined, JSON.stringify(body), ca)).status
  t.equal(status, 201, 'deployed')
  return name
}

/** An initialize POSTed with exactly these Host and Origin headers (fetch would not send Host as given). */
function initialize(port: number, path: string, host: string, origin: string | undefined, ca?: Buffer): Promise<{ status: number; body: string }> {
  return post(port, path, host, origin, INITIALIZE, ca)
}

function post(port: number, path: string, host: string, origin: string | undefined, body: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { host, authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  if (origin !== undefined) headers.origin = origin
  return new Promise((resolve, reject) => {
    const sent = (ca === undefined ? request : tlsRequest)({ host: '127.0.0.1', port, path, method: 'POST', headers, ...(ca !== undefined && { ca }) }, (answer) => {
      let text = ''
      answer.setEncoding('utf8')
      answer.on('data', (chunk: string) => (text += chunk))
      // An accepted initialize answers on an event stream: its first event is enough.
      answer.on('data', () => text.includes('\n\n') && answer.destroy())
      answer.on('close', () => resolve({ status: answer.statusCode ?? 0, body: text }))
    })
    sent.on('error', reject)
    sent.end(body)
  })
}

t.test('Origin matrix with the default settings, and with a listed origin', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = await deploy(t, agent)
  const port = Number(new URL(agent.baseUrl).port)
  const path = `/tools/${encodeURIComponent(name)}/mcp`
  const own = `127.0.0.1:${port}`
  const cases: Array<[label: string, host: string, origin: string | undefined, status: number]> = [
    ['no Origin (not a browser)', own, undefined, 200],
    ['its own origin by IP', own, `http://${own}`, 200],
    ['its own origin as localhost', `localhost:${port}`, `http://localhost:${port}`, 200],
    ['its own origin by IPv6', `[::1]:${port}`, `http://[::1]:${port}`, 200],
    ['another port', own, `http://127.0.0.1:${port + 1}`, 403],
    ['another scheme', own, `https://${own}`, 403],
    ['another host', own, 'http://evil.example', 403],
    ['a rebound name (Host and Origin agree)', 'evil.example.com', 'http://evil.example.com', 403],
    ['a rebound name with a port', `evil.example.com:${port}`, `http://evil.example.com:${port}`, 403],
    ['the opaque origin', own, 'null', 403],
    ['a malformed origin', own, 'http://', 403]
  ]
  for (const [label, host, origin, status] of cases) {
    const answer = await initialize(port, path, host, origin)
    t.equal(answer.status, status, `${label}: ${status}`)
    if (status === 403) t.match(answer.body, /Origin .* may not use the MCP endpoint/, `${label}: says why`)
  }

  const listing = await startTestAgent(t, { env: { ...env, DTMA_MCP_ALLOWED_ORIGINS: 'http://evil.example.com, https://app.example' } })
  const listed = await deploy(t, listing)
  const listingPort = Number(new URL(listing.baseUrl).port)
  const listedPath = `/tools/${encodeURIComponent(listed)}/mcp`
  t.equal((await initialize(listingPort, listedPath, 'evil.example.com', 'http://evil.example.com')).status, 200, 'a listed origin is accepted')
  t.equal((await initialize(listingPort, listedPath, `127.0.0.1:${listingPort}`, 'https://app.example')).status, 200, 'from any host')
  t.equal((await initialize(listingPort, listedPath, `127.0.0.1:${listingPort}`, `http://127.0.0.1:${listingPort}`)).status, 200, 'its own origin still')
  t.equal((await initialize(listingPort, listedPath, `127.0.0.1:${listingPort}`, 'http://evil.example')).status, 403, 'an unlisted one is not')
})

t.test('over TLS the own origin is accepted under any name (the browser checked the certificate for it)', async (t) => {
  const dir = tempDir(t)
  const [certFile, keyFile] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
  const names = 'subjectAltName=DNS:toolbox.example.com,IP:127.0.0.1'
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=toolbox.example.com', '-addext', names, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  const ca = readFileSync(certFile)
  const agent = await startTestAgent(t, { env: { ...env, DTMA_TLS_CERT: certFile, DTMA_TLS_KEY: keyFile } })
  const name = await deploy(t, agent, ca)
  const path = `/tools/${encodeURIComponent(name)}/mcp`
  const host = `toolbox.example.com:${agent.port}`
  t.equal((await initialize(agent.port, path, host, `https://${host}`, ca)).status, 200, 'its own origin by name, over TLS')
  t.equal((await initialize(agent.port, path, host, `http://${host}`, ca)).status, 403, 'the same name in plain HTTP is another origin')
  t.equal((await initialize(agent.port, path, host, 'https://evil.example', ca)).status, 403, 'another name')
})

type Check = { id: string; status: string; errorMessage?: string; details?: { tools?: string[] } }

/** One scenario of the official conformance suite, run as its CLI runs it: its exit code and the checks it wrote. */
async function conformance(t: Test, url: string, scenario: string): Promise<{ code: number; checks: Check[] }> {
  const out = tempDir(t, 'dtma-conformance-')
  const run = await promisify(execFile)(process.execPath, [conformanceCli, 'server', '--url', url, '--scenario', scenario, '-o', out], { cwd: out, timeout: 120_000 }).then(
    () => ({ code: 0 }),
    (error: { code?: number }) => ({ code: error.code ?? -1 })
  )
  const runDir = readdirSync(out).find((entry) => entry.startsWith(`server-${scenario}`))
  t.ok(runDir, `${scenario}: the suite wrote its checks`)
  return { code: run.code, checks: runDir === undefined ? [] : (JSON.parse(readFileSync(join(out, runDir, 'checks.json'), 'utf8')) as Check[]) }
}

t.test("the official conformance suite's scenarios pass with the default settings and an AI agent's scoped token", async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = await deploy(t, agent)
  // What an AI agent holds: an mcp token for this one instance and one of its two tools, nothing else.
  const id = instanceIds.get(name) as string
  const scoped = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: ['mcp'], lifetimeSeconds: 600, instances: [id], tools: { [id]: ['echo'] }, subject: 'conformance' })
  const hopPort = await credentialHop(t, Number(new URL(agent.baseUrl).port), scoped)
  const other = await fetch(`http://127.0.0.1:${hopPort}/tools`)
  await other.body?.cancel()
  t.comment(`mcp, this instance | GET /tools through the hop | 403 | ${other.status}`)
  t.equal(other.status, 403, "the hop's token opens MCP of this instance only, not the API")
  const url = `http://127.0.0.1:${hopPort}/tools/${encodeURIComponent(name)}/mcp`

  const rebinding = await conformance(t, url, 'dns-rebinding-protection')
  t.same(rebinding.checks.map((check) => check.id).sort(), ['localhost-host-rebinding-rejected', 'localhost-host-valid-accepted'], 'both checks ran')
  for (const scenario of ['server-initialize', 'ping', 'tools-list']) {
    const run = await conformance(t, url, scenario)
    t.ok(run.checks.length > 0, `${scenario}: checks ran`)
    rebinding.checks.push(...run.checks)
    t.equal(run.code, 0, `${scenario}: the conformance CLI exits 0`)
  }
  for (const check of rebinding.checks) {
    t.comment(`mcp, this instance, tool echo | conformance ${check.id} | SUCCESS | ${check.status}${check.errorMessage ? `: ${check.errorMessage}` : ''}`)
    t.equal(check.status, 'SUCCESS', `${check.id}${check.errorMessage ? `: ${check.errorMessage}` : ''}`)
  }
  t.same(rebinding.checks.find((check) => check.id === 'tools-list')?.details?.tools, ['echo'], "the suite's listing saw the granted tool only")
  t.equal(rebinding.code, 0, 'the conformance CLI exits 0')
})
