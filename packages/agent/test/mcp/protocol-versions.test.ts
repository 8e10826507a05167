// Real stdio servers (the official "everything" server, DTMA's tools server)
// through /tools/{name}/mcp, at every protocol version the official SDK
// supports: each initialize gets the version it asked for, later requests
// carry it in MCP-Protocol-Version (from 2025-06-18 on), and the answers are
// those the same server gives a client of that version directly (`docker run
// -i`), field for field. The SDK 1.22 client (protocol 2025-06-18, what many hosts ship) lists
// and calls tools. The server's sampling request goes only to a session that
// declared sampling; with none, the tool fails at once, not on a timeout.
// The agent declares to the server form elicitation and sampling only, and a
// 2025-06-18 client answers an elicitation of the server.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { CreateMessageRequestSchema, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js'
import { Client as Client122 } from 'mcp-sdk-1-22/client/index.js'
import { StreamableHTTPClientTransport as Transport122 } from 'mcp-sdk-1-22/client/streamableHttp.js'
import { ElicitRequestSchema as ElicitRequestSchema122 } from 'mcp-sdk-1-22/types.js'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t, { type Test } from 'tap'
import { authHeaders, startTestAgent, uniqueName, type TestAgent } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, mcpUrl, textOf } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43700-43719', DTMA_MCP_PING_INTERVAL_S: '5' }

type Any = Record<string, any>

async function deploy(t: Test, agent: TestAgent, label: string, image: string): Promise<string> {
  const name = uniqueName(label)
  agent.deployBody(name)
  const deployed = await agent.client.deployTool({ body: { ...mcpDeployBody(name, image, 'stdio'), waitForMcp: true } })
  t.equal(deployed.status, 201, `${label} deployed`)
  if (deployed.status !== 201) t.comment(JSON.stringify(deployed.body))
  return name
}

/** One JSON-RPC message posted as a raw client would; the answer, from JSON or from the event stream. */
async function post(url: URL, message: Any, headers: Record<string, string> = {}): Promise<{ status: number; session: string | null; answer: Any | undefined }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...authHeaders(), 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', ...message })
  })
  const text = await response.text()
  const data = text.split('\n').find((line) => line.startsWith('data: {'))
  const answer = text.trim() === '' ? undefined : JSON.parse(data === undefined ? text : data.slice(6))
  return { status: response.status, session: response.headers.get('mcp-session-id'), answer }
}

/**
 * The answers of the same server run directly (`docker run -i`), a client's
 * way: each request waits for its answer, and after `initialized` the client
 * waits for the tools the server adds for its capabilities (list_changed).
 */
async function direct(image: string, messages: Any[]): Promise<Map<unknown, Any>> {
  const child = spawn('docker', ['run', '-i', '--rm', '-e', 'MCP_EXIT_WITH_SERVER=1', image], { stdio: ['pipe', 'pipe', 'ignore'] })
  const answers = new Map<unknown, Any>()
  const waiting = new Map<unknown, () => void>()
  let listChanged = (): void => undefined
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as Any
    if (message.method === 'notifications/tools/list_changed') listChanged()
    if (message.id === undefined || message.method !== undefined) return
    answers.set(message.id, message)
    waiting.get(message.id)?.()
  })
  const timer = setTimeout(() => child.kill(), 30_000)
  for (const message of messages) {
    const answered = new Promise<void>((resolve) => {
      if (message.id !== undefined) waiting.set(message.id, resolve)
      else if (message.method === 'notifications/initialized') listChanged = resolve
      else resolve()
      child.on('close', resolve)
      if (message.method === 'notifications/initialized') setTimeout(resolve, 2000)
    })
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`)
    await answered
  }
  clearTimeout(timer)
  child.stdin.end()
  return answers
}

/** The SDK 1.22 client through the agent (its close() ends the session). */
async function client122(agent: TestAgent, name: string, options: ConstructorParameters<typeof Client122>[1] = {}) {
  const client = new Client122({ name: 'sdk-1.22', version: '1.0.0' }, options)
  const transport = new Transport122(mcpUrl(agent.baseUrl, name), { requestInit: { headers: authHeaders() } })
  await client.connect(transport)
  return { client, transport, close: async () => (await transport.terminateSession().catch(() => undefined), await client.close()) }
}

t.test('every supported protocol version is served as asked, with the answers the server gives that version directly', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = await deploy(t, agent, 'Versions', MCP_IMAGES.everythingStdio)
  const url = mcpUrl(agent.baseUrl, name)
  const call = { name: 'get-structured-content', arguments: { location: 'Chicago' } }
  for (const version of SUPPORTED_PROTOCOL_VERSIONS) {
    // A client that can sample and elicit, as the agent tells the shared server: the server offers its
    // sampling and elicitation tools by what the client declares, so both ways declare the same.
    const capabilities = { sampling: {}, elicitation: { form: {} } }
    const initialize = { id: 1, method: 'initialize', params: { protocolVersion: version, capabilities, clientInfo: { name: 'raw', version: '1' } } }
    const init = await post(url, initialize)
    t.equal(init.answer?.result?.protocolVersion, version, `initialize asking ${version} gets ${version}`)
    if (init.session === null) continue
    // MCP-Protocol-Version came with 2025-06-18: clients of earlier versions do not send it.
    const headers: Record<string, string> = { 'mcp-session-id': init.session, ...(version >= '2025-06-18' && { 'mcp-protocol-version': version }) }
    t.equal((await post(url, { method: 'notifications/initialized' }, headers)).status, 202)
    const listed = await post(url, { id: 2, method: 'tools/list' }, headers)
    const called = await post(url, { id: 3, method: 'tools/call', params: call }, headers)
    await fetch(url, { method: 'DELETE', headers: { ...authHeaders(), ...headers } })

    const straight = await direct(MCP_IMAGES.everythingStdio, [initialize, { method: 'notifications/initialized' }, { id: 2, method: 'tools/list' }, { id: 3, method: 'tools/call', params: call }])
    t.same(init.answer?.result, straight.get(1)?.result, `${version}: initialize answered as directly`)
    t.same(listed.answer, straight.get(2), `${version}: tools/list as directly`)
    t.same(called.answer, straight.get(3), `${version}: tools/call as directly`)
    if (version === '2024-11-05') t.ok(listed.answer?.result?.tools?.some((tool: Any) => 'outputSchema' in tool), 'fields of later versions are in the direct answer too, and passed on')
  }
})

t.test('the SDK 1.22 client lists and calls tools of stdio servers', async (t) => {
  const agent = await startTestAgent(t, { env })
  for (const [label, image] of [['Everything', MCP_IMAGES.everythingStdio], ['Tools', MCP_IMAGES.toolsV1]] as const) {
    const name = await deploy(t, agent, `SDK 1.22 ${label}`, image)
    const { client, transport, close } = await client122(agent, name)
    t.teardown(close)
    t.equal(transport.protocolVersion, '2025-06-18', `${label}: negotiated 2025-06-18`)
    const { tools } = await client.listTools()
    t.ok(tools.some((tool) => tool.name === 'echo'), `${label}: tools listed`)
    const args = label === 'Tools' ? { text: 'from SDK 1.22' } : { message: 'from SDK 1.22' }
    t.match(textOf(await client.callTool({ name: 'echo', arguments: args })), /from SDK 1.22/, `${label}: tool called`)
    if (label === 'Everything') {
      const structured = await client.callTool({ name: 'get-structured-content', arguments: { location: 'New York' } })
      t.same(structured.structuredContent, { temperature: 33, conditions: 'Cloudy', humidity: 82 }, 'structured content checked against its output schema by the 1.22 client')
    }
  }
})

t.test("the server's sampling request goes only to a session that declared sampling; with none, the call fails at once", async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = await deploy(t, agent, 'Sampling', MCP_IMAGES.everythingStdio)
  const asked: string[] = []
  const sampler = new Client({ name: 'sampler', version: '1.0.0' }, { capabilities: { sampling: {} } })
  sampler.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    asked.push(JSON.stringify(request.params.messages))
    return { model: 'stub', role: 'assistant', content: { type: 'text', text: 'sampled by the sampler' } }
  })
  await mcpClient(agent.baseUrl, name, { client: sampler })
  t.teardown(() => sampler.close())
  const other = await client122(agent, name)
  t.teardown(other.close)

  const tools = await other.client.listTools()
  t.ok(tools.tools.some((tool) => tool.name === 'trigger-sampling-request'), 'the server offers sampling: the agent declared it')
  const started = Date.now()
  const refused = await other.client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'from the other', maxTokens: 5 } })
  t.comment(`a sampling request no waiting session can answer failed the call in ${Date.now() - started} ms`)
  t.equal(refused.isError, true, 'the call of a session that cannot sample fails')
  t.match(textOf(refused), /no client session that can answer sampling\/createMessage/)
  t.same(asked, [], 'the sampler (idle, not the caller) was not asked')

  const sampled = await sampler.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'from the sampler', maxTokens: 5 } })
  t.match(textOf(sampled), /sampled by the sampler/, "the sampler's own call is sampled by it")
  t.equal(asked.length, 1)
  t.match(asked[0], /from the sampler/)
})

t.test('the agent declares form elicitation and sampling, not URL elicitation or roots; a 2025-06-18 client answers an elicitation', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = await deploy(t, agent, 'Elicitation', MCP_IMAGES.everythingStdio)
  const asked: Any[] = []
  const { client, close } = await client122(agent, name, { capabilities: { elicitation: {} } })
  t.teardown(close)
  client.setRequestHandler(ElicitRequestSchema122, async (request) => {
    asked.push(request.params)
    return { action: 'accept', content: { name: 'Ada', check: true } }
  })
  const names = (await client.listTools()).tools.map((tool) => tool.name)
  t.ok(names.includes('trigger-elicitation-request') && names.includes('trigger-sampling-request'), 'the tools for form elicitation and sampling are offered')
  t.notOk(names.includes('trigger-url-elicitation'), 'URL elicitation is not declared: 2025-06-18 sessions could not answer it')
  t.notOk(names.includes('get-roots-list'), 'roots are not declared: they are one client\'s')
  const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} })
  t.equal(asked.length, 1, 'the session that called and declared elicitation was asked')
  t.match(asked[0], { message: /.+/, requestedSchema: { type: 'object' } })
  t.match(JSON.stringify(result.content), /Ada/, 'its answer reached the server')
})
