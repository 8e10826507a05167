// Per-session terms on a shared server, message by message on an in-memory
// link: each session is served the protocol version it asks for (no newer
// than the server's), results reach it as the server wrote them, the
// server's requests go only to a session that declared it can
// answer them, and log messages and resource updates only to the sessions
// they belong to; the agent's own session gets list_changed only. (Through the agent, with real servers and clients: protocol-versions.test.ts.)
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import type { MessageLink } from '../../src/mcp/link.ts'
import { Multiplexer } from '../../src/mcp/multiplexer.ts'

type Any = Record<string, any>

function setup(serverVersion = '2025-11-25', serverInfo: Any = { name: 's', version: '1' }) {
  const toServer: Any[] = []
  const link: MessageLink = { isUp: true, send: (message) => (toServer.push(message as Any), true), connect: async () => undefined, close: () => undefined }
  const mux = new Multiplexer(link, { maxInFlight: 8, initializeWaitMs: 5000, observer: { message: () => undefined } })
  const fromServer = (message: Any) => mux.fromLink({ jsonrpc: '2.0', ...message } as JSONRPCMessage)
  const control = mux.openSession(true)
  /** What the agent's own session (its monitor) is sent. */
  const own: Any[] = []
  control.onmessage = (message) => own.push(message as Any)
  control.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: {} } as JSONRPCMessage)
  const capabilities = { tools: {}, logging: {}, completions: {}, tasks: { list: {} }, resources: { subscribe: true } }
  fromServer({ id: toServer.at(-1)?.id, result: { protocolVersion: serverVersion, capabilities, serverInfo } })
  /** A caller session that asked for `version` with these capabilities; got: what it was sent after its initialize. */
  const join = (version: string, clientCapabilities: Any = {}) => {
    const got: Array<{ message: Any; related: unknown }> = []
    const session = mux.openSession()
    session.onmessage = (message, related) => got.push({ message: message as Any, related })
    session.send({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: version, capabilities: clientCapabilities, clientInfo: { name: 'c', version: '1' } } } as JSONRPCMessage)
    const initialized = got.shift()?.message.result as Any
    const send = (message: Any) => session.send({ jsonrpc: '2.0', ...message } as JSONRPCMessage)
    return { session, got, initialized, send }
  }
  /** Sends a request of a session and answers it as the server, with `result`. */
  const ask = (caller: ReturnType<typeof join>, method: string, result: Any) => {
    caller.send({ id: 1, method, params: {} })
    fromServer({ id: toServer.at(-1)?.id, result })
    return caller.got.at(-1)?.message.result as Any
  }
  return { mux, toServer, fromServer, join, ask, own }
}

t.test('every version the SDK supports is served as asked over a 2025-11-25 server; an unknown or newer one gets the server\'s', async (t) => {
  const ctx = setup('2025-11-25')
  for (const version of SUPPORTED_PROTOCOL_VERSIONS) t.equal(ctx.join(version).initialized.protocolVersion, version, `asked ${version}`)
  t.equal(ctx.join('2031-01-01').initialized.protocolVersion, '2025-11-25', 'an unknown version: the server\'s')
  const older = setup('2025-06-18')
  t.equal(older.join('2025-11-25').initialized.protocolVersion, '2025-06-18', 'newer than the server: the server\'s (nothing newer can be made up)')
  t.equal(older.join('2025-03-26').initialized.protocolVersion, '2025-03-26')
})

t.test("results and notifications reach a session of any version as the server wrote them", async (t) => {
  // The same server spoken to directly by a client of an older version sends
  // these fields too (fidelity-*.test.ts compares that with real servers):
  // the bridge must not trim them.
  const serverInfo = { name: 's', version: '1', title: 'S', icons: [{ src: 'x' }], description: 'd', websiteUrl: 'https://s' }
  const ctx = setup('2025-11-25', serverInfo)
  const [v24, v25a, v25b, v25c] = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'].map((version) => ctx.join(version))
  for (const [version, caller] of [['2024-11-05', v24], ['2025-03-26', v25a], ['2025-06-18', v25b], ['2025-11-25', v25c]] as const) {
    t.same(caller!.initialized.serverInfo, serverInfo, `${version}: the server's own serverInfo`)
    t.ok('tasks' in caller!.initialized.capabilities && 'completions' in caller!.initialized.capabilities, `${version}: the server's own capabilities`)
  }

  const schema = { type: 'object', properties: { title: { type: 'string', title: 'Title' } } }
  const tool = { name: 't', title: 'T', inputSchema: schema, outputSchema: { type: 'object' }, annotations: { readOnlyHint: true }, icons: [{ src: 'x' }], execution: { taskSupport: 'optional' } }
  const content = [{ type: 'text', text: '{"a":1}' }, { type: 'resource_link', uri: 'file:///x', name: 'x' }, { type: 'audio', data: 'AA==', mimeType: 'audio/wav' }]
  const called = { content, structuredContent: { a: 1 } }
  for (const caller of [v24!, v25a!, v25b!]) {
    t.same(ctx.ask(caller, 'tools/list', { tools: [tool] }).tools, [tool], 'tools as listed')
    t.same(ctx.ask(caller, 'tools/call', called), called, 'a call\'s content and structured content as answered')
  }
  t.same(ctx.ask(v24!, 'prompts/list', { prompts: [{ name: 'p', title: 'P', arguments: [] }] }).prompts, [{ name: 'p', title: 'P', arguments: [] }])

  v24!.send({ id: 2, method: 'tools/call', params: { name: 'slow', _meta: { progressToken: 'tok' } } })
  ctx.fromServer({ method: 'notifications/progress', params: { progressToken: ctx.toServer.at(-1)?.params._meta.progressToken, progress: 1, message: 'half' } })
  t.same(v24!.got.at(-1)?.message.params, { progressToken: 'tok', progress: 1, message: 'half' }, 'progress as sent, under the session\'s own token')
})

t.test("the server's requests go only to a session that declared it can answer, the waiting one first; none: refused at once", async (t) => {
  const ctx = setup()
  const sampler = ctx.join('2025-06-18', { sampling: {} })
  const plain = ctx.join('2025-11-25', {})
  sampler.send({ id: 1, method: 'tools/call', params: { name: 'sample' } })
  plain.send({ id: 1, method: 'tools/call', params: { name: 'other' } })
  ctx.fromServer({ id: 50, method: 'sampling/createMessage', params: { messages: [], maxTokens: 1 } })
  t.match(sampler.got.at(-1), { message: { method: 'sampling/createMessage' }, related: 1 }, 'to the caller that can sample, though another asked later')
  t.equal(plain.got.length, 0, 'never to a session that did not declare sampling')
  ctx.fromServer({ id: 51, method: 'sampling/createMessage', params: { messages: [], maxTokens: 1, tools: [] } })
  t.match(ctx.toServer.at(-1), { id: 51, error: { code: -32601 } }, 'sampling with tools: its session did not declare sampling.tools')

  const old = ctx.join('2025-03-26', { elicitation: {} })
  old.send({ id: 7, method: 'tools/call', params: {} })
  ctx.fromServer({ id: 52, method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object', properties: {} } } })
  t.match(ctx.toServer.at(-1), { id: 52, error: { code: -32601, message: /elicitation\/create/ } }, 'elicitation is not sent to a version that does not know it')
  const former = ctx.join('2025-06-18', { elicitation: {} })
  const urls = ctx.join('2025-11-25', { elicitation: { url: {} } })
  former.send({ id: 8, method: 'tools/call', params: {} })
  urls.send({ id: 9, method: 'tools/call', params: {} })
  ctx.fromServer({ id: 53, method: 'elicitation/create', params: { mode: 'url', url: 'https://x', message: 'go', elicitationId: 'e' } })
  t.match(urls.got.at(-1)?.message, { method: 'elicitation/create', params: { mode: 'url' } }, 'URL elicitation: to the session that declared it')
  ctx.fromServer({ id: 54, method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object', properties: {} } } })
  t.match(former.got.at(-1)?.message, { method: 'elicitation/create' }, 'form elicitation: not to a URL-only session, to the form one')
})

t.test('with no caller waiting, a request of the server goes to any session that can answer it', async (t) => {
  const ctx = setup()
  ctx.fromServer({ id: 60, method: 'roots/list' })
  t.match(ctx.toServer.at(-1), { id: 60, error: { code: -32601 } }, 'nobody declared roots: refused')
  const rooted = ctx.join('2025-06-18', { roots: { listChanged: true } })
  ctx.join('2025-06-18', {})
  ctx.fromServer({ id: 61, method: 'roots/list' })
  const asked = rooted.got.at(-1)?.message
  t.match(asked, { method: 'roots/list', id: /^dtma-/ })
  rooted.send({ id: asked?.id, result: { roots: [{ uri: 'file:///w' }] } })
  t.same(ctx.toServer.at(-1), { jsonrpc: '2.0', id: 61, result: { roots: [{ uri: 'file:///w' }] } })
})

t.test('log messages go by the level each session asked for; resource updates to the sessions subscribed', async (t) => {
  const ctx = setup()
  const verbose = ctx.join('2025-06-18')
  const quiet = ctx.join('2025-06-18')
  const silent = ctx.join('2025-06-18')
  quiet.send({ id: 1, method: 'logging/setLevel', params: { level: 'error' } })
  t.same(ctx.toServer.at(-1)?.params, { level: 'error' })
  verbose.send({ id: 1, method: 'logging/setLevel', params: { level: 'debug' } })
  t.same(ctx.toServer.at(-1)?.params, { level: 'debug' }, 'the server is asked for the most verbose level')
  ctx.fromServer({ id: ctx.toServer.at(-1)?.id, result: {} })
  t.same(verbose.got.at(-1)?.message, { jsonrpc: '2.0', id: 1, result: {} })
  const logs = (caller: ReturnType<typeof ctx.join>) => caller.got.filter((g) => g.message.method === 'notifications/message').map((g) => g.message.params.level)
  for (const level of ['debug', 'info', 'error', 'critical']) ctx.fromServer({ method: 'notifications/message', params: { level, data: level } })
  t.same(logs(verbose), ['debug', 'info', 'error', 'critical'])
  t.same(logs(quiet), ['error', 'critical'], 'error and above only')
  t.same(logs(silent), ['debug', 'info', 'error', 'critical'], 'a session that set no level gets what the server sends')
  const sent = ctx.toServer.length
  ctx.join('2025-06-18').send({ id: 1, method: 'logging/setLevel', params: { level: 'warning' } })
  t.same(ctx.toServer.at(-1)?.params, { level: 'debug' }, 'a less verbose level: the server stays at the most verbose')
  ctx.fromServer({ id: ctx.toServer.at(-1)?.id, result: {} })
  t.equal(ctx.toServer.length, sent + 1)

  verbose.send({ id: 2, method: 'resources/subscribe', params: { uri: 'res://a' } })
  quiet.send({ id: 2, method: 'resources/subscribe', params: { uri: 'res://a' } })
  ctx.fromServer({ method: 'notifications/resources/updated', params: { uri: 'res://a' } })
  const updates = (caller: ReturnType<typeof ctx.join>) => caller.got.filter((g) => g.message.method === 'notifications/resources/updated').length
  t.same([updates(verbose), updates(quiet), updates(silent)], [1, 1, 0], 'only to the subscribers')
  const before = ctx.toServer.length
  quiet.send({ id: 3, method: 'resources/unsubscribe', params: { uri: 'res://a' } })
  t.equal(ctx.toServer.length, before, 'another session still subscribes: not sent to the server')
  t.same(quiet.got.at(-1)?.message, { jsonrpc: '2.0', id: 3, result: {} }, 'answered here')
  verbose.session.close()
  t.match(ctx.toServer.slice(-2), [
    { method: 'resources/unsubscribe', params: { uri: 'res://a' } },
    { method: 'logging/setLevel', params: { level: 'warning' } }
  ], 'the last subscriber gone, the server is told; the most verbose level gone, the server is asked for the next')
  for (const own of ctx.toServer.slice(-2)) ctx.fromServer({ id: own.id, result: {} })
  t.equal(ctx.mux.sessionCount, 3)
  t.same(logs(quiet), ['error', 'critical'], "the agent's own requests are answered to nobody")
})

t.test("the agent's own session is sent the server's list_changed notifications only, a caller's session every one", async (t) => {
  const ctx = setup()
  const caller = ctx.join('2025-06-18')
  const answered = ctx.own.length
  const methods = ['notifications/message', 'notifications/tools/list_changed', 'notifications/resources/list_changed', 'notifications/prompts/list_changed', 'notifications/custom']
  for (const method of methods) ctx.fromServer({ method, params: method === 'notifications/message' ? { level: 'info', data: 'x' } : {} })
  const own = ctx.own.slice(answered).map((message) => message.method)
  const callers = caller.got.map((g) => g.message.method)
  t.comment(`expected own: the three list_changed; seen: ${own.join(', ')}`)
  t.same(own, ['notifications/tools/list_changed', 'notifications/resources/list_changed', 'notifications/prompts/list_changed'], 'no log message nor other notification for the monitor')
  t.same(callers, methods, "the caller's session gets every one")
})
