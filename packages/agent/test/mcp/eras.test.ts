// Both MCP eras on /tools/{name}/mcp, on the real agent process, with the
// official clients: an SDK v2 client negotiating its version ("auto": the
// 2026-07-28 stateless era when the endpoint offers it) and an SDK v1 client
// (the 2025-11-25 session era) list and call tools of a stdio server that
// speaks only the session era (the agent translates) and of an http server
// that speaks both (the agent relays), and of an http server that speaks only
// the session era (the agent translates over a session of its own to it),
// with bearer auth, before and after the
// agent is killed and started again. On the stdio server an elicitation the
// server sends during a call reaches the v2 client as an input-required
// result, and the client's retry answers the server. And what the agent
// checks of a stateless request itself, as a caller who gets it wrong or
// tries another's requestState would meet it.
import { randomUUID } from 'node:crypto'
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client'
import t, { type Test } from 'tap'
import { signToolboxToken } from '@dtma/contract'
import { freePort, removeInstances, TEST_AUDIENCE, tempDir, TOKEN, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, mcpUrl, textOf } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const IMAGES = { stdio: 'dtma-test/mcp-conformance:stdio', http: 'dtma-test/mcp-conformance:http' } as const
const ENV = { DTMA_TOOL_PORT_RANGE: '43750-43759' }
const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'eras-test', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': { elicitation: {} }
}

async function v2Client(baseUrl: string, name: string, token: string): Promise<ClientV2> {
  const client = new ClientV2({ name: 'dtma-eras-v2', version: '1.0.0' }, { capabilities: { elicitation: { form: {} } }, versionNegotiation: { mode: 'auto' } })
  client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { response: 'from the v2 client' } }))
  await client.connect(new TransportV2(mcpUrl(baseUrl, name), { requestInit: { headers: { authorization: `Bearer ${token}` } } }))
  return client
}

async function clientsWork(t: Test, agent: AgentProcess, names: Record<'stdio' | 'http' | 'older', string>, label: string): Promise<void> {
  // The reference everything server over http: the session era only.
  const older = await v2Client(agent.baseUrl, names.older, TOKEN)
  try {
    t.equal(older.getProtocolEra(), 'modern', `${label}, http of the session era: the v2 client negotiated the 2026-07-28 era`)
    t.ok((await older.listTools()).tools.some((tool) => tool.name === 'echo'), `${label}, http of the session era: v2 tools/list`)
    t.equal(textOf(await older.callTool({ name: 'echo', arguments: { message: 'translated' } })), 'Echo: translated', `${label}, http of the session era: v2 tools/call`)
  } finally {
    await older.close()
  }
  const olderV1 = await mcpClient(agent.baseUrl, names.older)
  try {
    t.equal(textOf(await olderV1.callTool({ name: 'echo', arguments: { message: 'session' } })), 'Echo: session', `${label}, http of the session era: v1 tools/call`)
  } finally {
    await olderV1.close()
  }

  for (const transport of ['stdio', 'http'] as const) {
    const v2 = await v2Client(agent.baseUrl, names[transport], TOKEN)
    try {
      t.equal(v2.getProtocolEra(), 'modern', `${label}, ${transport}: the v2 client negotiated the 2026-07-28 era`)
      const { tools } = await v2.listTools()
      t.ok(tools.some((tool) => tool.name === 'test_simple_text'), `${label}, ${transport}: v2 tools/list`)
      const result = await v2.callTool({ name: 'test_simple_text', arguments: {} })
      t.equal(textOf(result), 'This is a simple text response for testing.', `${label}, ${transport}: v2 tools/call`)
      if (transport === 'stdio') {
        const asked = await v2.callTool({ name: 'test_elicitation', arguments: { message: 'your name?' } })
        t.comment(`${label} | stdio elicitation through an input-required result | expected the client's answer | seen ${textOf(asked)}`)
        t.match(textOf(asked), /action=accept, content=\{"response":"from the v2 client"\}/, `${label}: the server's elicitation became an input-required result, the retry answered it`)
      }
    } finally {
      await v2.close()
    }
    const v1 = await mcpClient(agent.baseUrl, names[transport])
    try {
      t.ok((await v1.listTools()).tools.some((tool) => tool.name === 'test_simple_text'), `${label}, ${transport}: v1 tools/list`)
      t.equal(textOf(await v1.callTool({ name: 'test_simple_text', arguments: {} })), 'This is a simple text response for testing.', `${label}, ${transport}: v1 tools/call`)
    } finally {
      await v1.close()
    }
  }
}

/** One stateless request as a raw caller sends it. */
async function stateless(agent: AgentProcess, name: string, body: Record<string, unknown>, headers: Record<string, string> = {}, token = TOKEN): Promise<{ status: number; body: any }> {
  const params = (body.params ?? {}) as Record<string, unknown>
  const answer = await fetch(mcpUrl(agent.baseUrl, name), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': String(body.method), ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, ...body, params: { ...params, _meta: { ...META, ...(params._meta as object) } } })
  })
  const text = await answer.text()
  const json = text.startsWith('{') ? JSON.parse(text) : JSON.parse((text.split('\n').filter((line) => line.startsWith('data: ')).pop() ?? 'data: {}').slice(6))
  return { status: answer.status, body: json }
}

t.test('SDK v2 and v1 clients on a stdio and an http server, before and after an agent restart', async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const names = { stdio: uniqueName('Eras Stdio'), http: uniqueName('Eras Http'), older: uniqueName('Eras Older') }
  t.teardown(() => removeInstances(Object.values(names)))
  const first = spawnAgent(dataDir, port, ENV)
  t.teardown(() => first.kill())
  await first.ready()
  const ids: string[] = []
  for (const transport of ['stdio', 'http'] as const) {
    const body = { ...mcpDeployBody(names[transport], IMAGES[transport], transport), accountToolInstanceId: randomUUID(), waitForMcp: true }
    ids.push(body.accountToolInstanceId)
    t.equal((await first.client.deployTool({ body })).status, 201, `${transport}: deployed`)
  }
  const older = { ...mcpDeployBody(names.older, MCP_IMAGES.everythingHttp, 'http'), waitForMcp: true }
  t.equal((await first.client.deployTool({ body: older })).status, 201, 'an http server of the session era: deployed')
  await clientsWork(t, first, names, 'before the restart')

  // What the agent checks of a stateless request on the stdio server (the http one checks its own).
  const cases: Array<[string, Record<string, unknown>, Record<string, string>, number, number]> = [
    ['Mcp-Name names another tool than the body', { method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } }, { 'mcp-name': 'test_error_handling' }, 400, -32020],
    ['Mcp-Method says another method', { method: 'tools/list' }, { 'mcp-method': 'tools/call' }, 400, -32020],
    ['the header and _meta versions differ', { method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, {}, 400, -32020],
    ['an unsupported version', { method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } }, { 'mcp-protocol-version': '2099-01-01' }, 400, -32022],
    ['no client capabilities in _meta', { method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/clientCapabilities': null } } }, {}, 400, -32602],
    ['a method of the session era', { method: 'ping' }, {}, 404, -32601],
    ['a requestState the agent never gave', { method: 'tools/call', params: { name: 'test_elicitation', arguments: { message: 'x' }, requestState: 'forged', inputResponses: {} } }, { 'mcp-name': 'test_elicitation' }, 400, -32602]
  ]
  for (const [label, body, headers, status, code] of cases) {
    const answer = await stateless(first, names.stdio, body, headers)
    t.comment(`${label} | ${status} ${code} | ${answer.status} ${answer.body?.error?.code}`)
    t.match(answer, { status, body: { id: 7, error: { code } } }, `${label}: ${status}, ${code}`)
  }
  const discover = await stateless(first, names.stdio, { method: 'server/discover' })
  t.match(discover.body.result, { supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, resultType: 'complete', ttlMs: 0, cacheScope: 'private', _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcp-conformance-test-server' } } }, "server/discover: from the stdio server's initialize answer")

  // A requestState is the caller's own: another grant cannot resume the call.
  const asked = await stateless(first, names.stdio, { method: 'tools/call', params: { name: 'test_elicitation', arguments: { message: 'x' } } }, { 'mcp-name': 'test_elicitation' })
  t.match(asked.body.result, { resultType: 'input_required', inputRequests: {}, requestState: String }, 'the elicitation asks the caller for input')
  const [key] = Object.keys(asked.body.result.inputRequests)
  const other = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: ['mcp'], lifetimeSeconds: 600, instances: ids, subject: 'someone else' })
  const retry = { method: 'tools/call', params: { name: 'test_elicitation', arguments: { message: 'x' }, requestState: asked.body.result.requestState, inputResponses: { [key as string]: { action: 'accept', content: { response: 'stolen' } } } } }
  const stolen = await stateless(first, names.stdio, retry, { 'mcp-name': 'test_elicitation' }, other)
  t.comment(`another subject's retry | 400 -32602 | ${stolen.status} ${stolen.body?.error?.code}`)
  t.match(stolen, { status: 400, body: { error: { code: -32602 } } }, "another subject's retry with the requestState is refused")
  const own = await stateless(first, names.stdio, retry, { 'mcp-name': 'test_elicitation' })
  t.match(own.body.result, { resultType: 'complete', content: [{ text: /content=\{"response":"stolen"\}/ }] }, "the caller's own retry goes on")

  // A stateless caller that goes away during a long call: its pipe closes, the call is cancelled, no session stays open.
  const sessions = async () => /dtma_mcp_bridge_sessions (\d+)\n/.exec(String((await first.client.metrics()).body))?.[1]
  t.equal(await waitFor(async () => ((await sessions()) === '0' ? '0' : undefined)), '0', 'no bridge session open before the long call')
  const slow = uniqueName('Eras Slow')
  t.teardown(() => removeInstances([slow]))
  t.equal((await first.client.deployTool({ body: { ...mcpDeployBody(slow, MCP_IMAGES.everythingStdio, 'stdio'), waitForMcp: true } })).status, 201, 'a stdio server with a long tool: deployed')
  const long = new AbortController()
  const call = fetch(mcpUrl(first.baseUrl, slow), {
    method: 'POST',
    signal: long.signal,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'trigger-long-running-operation' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 60, steps: 60 }, _meta: META } })
  }).catch(() => undefined)
  t.equal(await waitFor(async () => ((await sessions()) === '1' ? '1' : undefined)), '1', 'the long call holds one bridge session')
  long.abort()
  await call
  t.equal(await waitFor(async () => ((await sessions()) === '0' ? '0' : undefined)), '0', 'the caller went away: its session closed')

  await first.kill('SIGKILL')
  const second = spawnAgent(dataDir, port, ENV)
  t.teardown(() => second.kill())
  await second.ready()
  const ready = await waitFor(async () => {
    const views = await Promise.all(Object.values(names).map((name) => second.client.getTool({ params: { name } })))
    return views.every((view) => view.status === 200 && view.body.data.mcp?.status === 'ready') || undefined
  })
  t.ok(ready, 'both servers ready again after the restart')
  await clientsWork(t, second, names, 'after the restart')
})
