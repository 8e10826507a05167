// The http proxy is transparent: a strict Streamable HTTP server (a Host of
// its own, 405 on GET, an empty chunked 200 on DELETE, JSON-RPC errors with
// data, as Notion, Context7 and Playwright answer) works through DTMA as it
// does directly, header for header and byte for byte in its errors; so does
// a stdio server's JSON-RPC error; DTMA's own refusals on the MCP endpoint
// are JSON-RPC errors; and a kept-alive connection to a server gathers no
// listener per request.
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import { authHeaders, startTestAgent, uniqueName, type TestAgent } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, mcpUrl, textOf } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'
import { containerAddress, INITIALIZE, rawMcp, rawSession, stdioDirect } from '../helpers/raw-mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43700-43749', DTMA_MCP_START_TIMEOUT_S: '60' }
const FAIL = { id: 'p-7', method: 'prompts/get', params: { name: 'fail' } }

/** The tools server in its strict http mode on port 3000. */
function strictBody(name: string, environmentVariables: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  return mcpDeployBody(name, MCP_IMAGES.toolsV1, 'http', {
    mcpPort: 3000,
    environmentVariables: { TOOLS_HTTP_PORT: '3000', TOOLS_ERRORS: '1', ...environmentVariables },
    ...extra
  })
}

async function deploy(agent: TestAgent, body: ReturnType<typeof strictBody>, waitForMcp = true) {
  agent.deployBody(body.instanceNameOnToolbox)
  return (await agent.client.deployTool({ body: { ...body, waitForMcp } })) as { status: number; body: { data: { container_id: string; mcp: Record<string, unknown> | null; warnings?: string[] } } }
}

t.test('a strict http server: Host, errors, GET, DELETE and MCP headers, as it answers directly', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Strict Http')
  const deployed = await deploy(agent, strictBody(name))
  t.match(deployed, { status: 201, body: { data: { mcp: { transport: 'http', status: 'ready' } } } }, 'it answers the health check: it was sent Host localhost:3000')

  const direct = new URL(`http://${await containerAddress(deployed.body.data.container_id)}:3000/mcp`)
  const refused = await rawMcp(direct, 'POST', {}, INITIALIZE)
  t.equal(refused.status, 403, `directly under its container address the server refuses the Host: ${refused.text}`)

  const through = mcpUrl(agent.baseUrl, name)
  const directSession = await rawSession(direct, { host: 'localhost:3000' })
  const dtmaSession = await rawSession(through, authHeaders())
  const [directly, viaDtma] = await Promise.all([rawMcp(direct, 'POST', directSession, { jsonrpc: '2.0', ...FAIL }), rawMcp(through, 'POST', dtmaSession, { jsonrpc: '2.0', ...FAIL })])
  const errorOf = (answer: typeof directly) => answer.messages.find((message) => message.id === FAIL.id)
  t.equal(viaDtma.status, directly.status, `the same status (${directly.status})`)
  t.same(errorOf(viaDtma), errorOf(directly), 'the JSON-RPC error, id, code, message and data, as the server sent it')
  t.match(errorOf(viaDtma), { id: 'p-7', error: { code: -32042, message: 'the prompt failed on purpose', data: { reason: 'test', nested: { n: 1, list: ['a', 'ü'] } } } })

  // MCP headers both ways: the 2026 Mcp-Method and Mcp-Name reach the server, its Mcp-* answer headers the caller.
  const call = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } }
  const named = await rawMcp(through, 'POST', { ...dtmaSession, 'mcp-method': 'tools/call', 'mcp-name': 'echo', 'last-event-id': 'ev-1' }, call)
  t.equal(named.status, 200)
  const seen = String(named.headers['mcp-seen']).split(',')
  t.same(seen.sort(), ['last-event-id', 'mcp-method=tools/call', 'mcp-name=echo', 'mcp-protocol-version', 'mcp-session-id'], 'the server saw every MCP header, and its own Mcp-Seen came back')

  const stream = await rawMcp(through, 'GET', { ...dtmaSession, accept: 'text/event-stream' })
  t.equal(stream.status, 405, 'GET: the server has no stream here, 405 as it said')
  t.equal(stream.headers.allow, 'POST, DELETE', 'with its Allow header')
  t.match(JSON.parse(stream.text), { jsonrpc: '2.0', error: { message: 'Method not allowed.' } })

  const ended = await rawMcp(through, 'DELETE', dtmaSession)
  t.equal(ended.status, 200, 'DELETE: the empty chunked 200 with no content type passes')
  t.equal(ended.text, '')
  t.equal(ended.headers['content-type'], undefined)
  const gone = await rawMcp(through, 'POST', dtmaSession, call)
  t.equal(gone.status, 404, 'the ended session: the server says 404')
  t.match(JSON.parse(gone.text), { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }, "the server's own 404, not DTMA's")

  // The official client: list, call, a failing prompt as an McpError with its data, a polite close.
  const client = await mcpClient(agent.baseUrl, name)
  t.same((await client.listTools()).tools.map((tool) => tool.name).sort(), ['add', 'echo'])
  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'through DTMA' } })), 'through DTMA')
  const failed = await client.getPrompt({ name: 'fail' }).catch((error: unknown) => error)
  t.ok(failed instanceof McpError, 'the client gets an McpError')
  t.match(failed, { code: -32042, data: { reason: 'test' } })
  await client.close()
})

t.test('mcpHost: a server that answers only its own name', async (t) => {
  const agent = await startTestAgent(t, { env })
  const named = uniqueName('Own Host')
  const deployed = await deploy(agent, strictBody(named, { TOOLS_HOST: 'tools.internal:3000' }, { mcpHost: 'tools.internal:3000' }))
  t.match(deployed, { status: 201, body: { data: { mcp: { status: 'ready', host: 'tools.internal:3000' } } } }, 'ready, and the API says which Host it is sent')
  const client = await mcpClient(agent.baseUrl, named)
  t.equal(textOf(await client.callTool({ name: 'add', arguments: { a: 2, b: 3 } })), '5')
  await client.close()

  const unnamed = uniqueName('Wrong Host')
  t.equal((await deploy(agent, strictBody(unnamed, { TOOLS_HOST: 'tools.internal:3000' }), false)).status, 201)
  const lastError = await waitFor(async () => {
    const tool = (await agent.client.getTool({ params: { name: unnamed } })) as { body: { data: { mcp: { status: string; last_error: string | null } } } }
    // (Refused connections first, while the server starts.)
    const said = tool.body.data.mcp.last_error ?? ''
    return /Invalid Host/.test(said) ? said : undefined
  }, 60_000)
  t.match(lastError, /Invalid Host header: localhost:3000/, `without mcpHost it does not become ready, and says why: ${lastError}`)
  const post = await rawMcp(mcpUrl(agent.baseUrl, unnamed), 'POST', authHeaders(), INITIALIZE)
  t.equal(post.status, 403, "a caller sees the server's own 403")
  t.match(JSON.parse(post.text), { jsonrpc: '2.0', error: { code: -32000, message: 'Invalid Host header: localhost:3000' } })
})

t.test("DTMA's own refusals on the MCP endpoint are JSON-RPC errors", async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Refusals')
  t.equal((await deploy(agent, strictBody(name))).status, 201)
  const url = mcpUrl(agent.baseUrl, name)
  const cases: Array<[string, Record<string, string>, unknown, number, string]> = [
    ['no token', {}, INITIALIZE, 401, 'DTMA_UNAUTHORIZED'],
    ['a wrong Accept', { ...authHeaders(), accept: 'application/json' }, INITIALIZE, 406, 'DTMA_MCP_NOT_ACCEPTABLE'],
    ['a body that is no JSON-RPC message', authHeaders(), { hello: 1 }, 400, 'DTMA_BAD_REQUEST']
  ]
  for (const [what, headers, body, status, code] of cases) {
    const answer = await rawMcp(url, 'POST', headers, body)
    t.equal(answer.status, status, what)
    t.match(JSON.parse(answer.text), { jsonrpc: '2.0', id: null, error: { code: Number, message: String, data: { code } } }, `${what}: a JSON-RPC error carrying ${code}`)
  }
  const unknown = await rawMcp(mcpUrl(agent.baseUrl, uniqueName('Nobody')), 'POST', authHeaders(), INITIALIZE)
  t.equal(unknown.status, 404)
  t.match(JSON.parse(unknown.text), { jsonrpc: '2.0', id: null, error: { data: { code: 'DTMA_NOT_FOUND' } } }, 'an unknown instance')
})

t.test("a stdio server's JSON-RPC error reaches the client as the server wrote it", async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Stdio Errors')
  const body = mcpDeployBody(name, MCP_IMAGES.toolsV1, 'stdio', { environmentVariables: { TOOLS_ERRORS: '1' } })
  agent.deployBody(name)
  t.equal((await agent.client.deployTool({ body: { ...body, waitForMcp: true } })).status, 201)
  const url = mcpUrl(agent.baseUrl, name)
  const viaDtma = await rawMcp(url, 'POST', await rawSession(url, authHeaders()), { jsonrpc: '2.0', ...FAIL })
  const directly = await stdioDirect(MCP_IMAGES.toolsV1, ['TOOLS_ERRORS=1'], FAIL)
  t.equal(viaDtma.status, 200)
  t.same(
    viaDtma.messages.find((message) => message.id === FAIL.id),
    directly,
    'id, code, message and data as the server wrote them'
  )
  t.match(directly, { id: 'p-7', error: { code: -32042, data: { nested: { list: ['a', 'ü'] } } } })
})

t.test('a kept-alive connection to a server gathers no listener per request', async (t) => {
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  t.teardown(() => void process.off('warning', onWarning))
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Kept Alive')
  t.equal((await deploy(agent, strictBody(name))).status, 201)
  const client = await mcpClient(agent.baseUrl, name)
  const started = performance.now()
  const calls = 60
  for (let i = 0; i < calls; i += 1) await client.callTool({ name: 'echo', arguments: { text: String(i) } })
  t.comment(`${calls} calls through the proxy in ${Math.round(performance.now() - started)} ms`)
  await client.close()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(
    warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning').map((warning) => warning.message),
    [],
    'no MaxListenersExceededWarning'
  )
})
