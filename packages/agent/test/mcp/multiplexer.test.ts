// The multiplexer's rules, message by message, on an in-memory link (the
// real-server tests drive the same code through the agent): ids rewritten
// and mapped back, a session's initialize answered from the server's one
// answer and held until it exists, progress and cancellations rewritten, the
// server's ping answered here, its requests sent to the session with the
// most recent request in flight that can answer (or refused), late answers dropped, a closed
// session's requests cancelled, a lost link failing what was in flight.
// (Versions, capabilities and notifications per session: negotiation.test.ts.)
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import type { MessageLink } from '../../src/mcp/link.ts'
import { Multiplexer } from '../../src/mcp/multiplexer.ts'
import type { MuxSession } from '../../src/mcp/mux-session.ts'

type Any = Record<string, any>

function setup(options: { initializeWaitMs?: number; maxInFlight?: number } = {}) {
  const toServer: Any[] = []
  const link: MessageLink = { isUp: true, send: (message) => (toServer.push(message as Any), true), connect: async () => undefined, close: () => undefined }
  const mux = new Multiplexer(link, { maxInFlight: options.maxInFlight ?? 8, initializeWaitMs: options.initializeWaitMs ?? 5000, observer: { message: () => undefined } })
  const open = (control = false) => {
    const got: Array<{ message: Any; related: unknown }> = []
    const session = mux.openSession(control)
    session.onmessage = (message, related) => got.push({ message: message as Any, related })
    return { session, got }
  }
  const fromServer = (message: Any) => mux.fromLink(message as JSONRPCMessage)
  const send = (session: MuxSession, message: Any) => session.send({ jsonrpc: '2.0', ...message } as JSONRPCMessage)
  return { mux, toServer, open, fromServer, send }
}

const INIT_RESULT = { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 's', version: '1' } }

/** The control session initializes the server; the answer opens the gate. */
function initialize(ctx: ReturnType<typeof setup>) {
  const control = ctx.open(true)
  ctx.send(control.session, { id: 0, method: 'initialize', params: {} })
  const forwarded = ctx.toServer.at(-1) as Any
  ctx.fromServer({ jsonrpc: '2.0', id: forwarded.id, result: INIT_RESULT })
  return control
}

t.test('the same ids in two sessions never cross; answers go back under the caller\'s own id', async (t) => {
  const ctx = setup()
  initialize(ctx)
  const a = ctx.open()
  const b = ctx.open()
  ctx.send(a.session, { id: 1, method: 'tools/call', params: { name: 'x' } })
  ctx.send(b.session, { id: 1, method: 'tools/call', params: { name: 'y' } })
  const [toA, toB] = ctx.toServer.slice(-2) as [Any, Any]
  t.not(toA.id, toB.id, 'link-unique ids')
  ctx.fromServer({ jsonrpc: '2.0', id: toB.id, result: { for: 'b' } })
  ctx.fromServer({ jsonrpc: '2.0', id: toA.id, result: { for: 'a' } })
  t.same(a.got, [{ message: { jsonrpc: '2.0', id: 1, result: { for: 'a' } }, related: 1 }])
  t.same(b.got, [{ message: { jsonrpc: '2.0', id: 1, result: { for: 'b' } }, related: 1 }])
  ctx.fromServer({ jsonrpc: '2.0', id: toA.id, result: { late: true } })
  t.equal(a.got.length, 1, 'a second answer to the same id is dropped')
})

t.test("a session's initialize is answered from the server's answer, held until there is one", async (t) => {
  const ctx = setup()
  const a = ctx.open()
  ctx.send(a.session, { id: 'i', method: 'initialize', params: { protocolVersion: '2025-06-18' } })
  ctx.send(a.session, { method: 'notifications/initialized' })
  ctx.send(a.session, { id: 2, method: 'tools/list' })
  t.same(ctx.toServer, [], 'nothing reaches the server before it is initialized')
  initialize(ctx)
  t.same(a.got[0], { message: { jsonrpc: '2.0', id: 'i', result: INIT_RESULT }, related: 'i' }, "the server's own answer")
  t.same(ctx.toServer.map((m) => m.method), ['initialize', 'tools/list'], "the session's initialize is never forwarded, nor its initialized; the held request goes on")
  const b = ctx.open()
  ctx.send(b.session, { id: 7, method: 'initialize', params: {} })
  t.same(b.got[0]?.message.result, INIT_RESULT, 'answered at once once known')
})

t.test('held messages expire with an error after the wait', async (t) => {
  const ctx = setup({ initializeWaitMs: 50 })
  const a = ctx.open()
  ctx.send(a.session, { id: 1, method: 'initialize', params: {} })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.match(a.got[0]?.message, { id: 1, error: { message: /did not finish starting within/ } })
})

t.test('progress tokens and cancellations are rewritten both ways', async (t) => {
  const ctx = setup()
  initialize(ctx)
  const a = ctx.open()
  const b = ctx.open()
  ctx.send(a.session, { id: 1, method: 'tools/call', params: { name: 'slow', _meta: { progressToken: 'tok' } } })
  ctx.send(b.session, { id: 1, method: 'tools/call', params: { name: 'slow', _meta: { progressToken: 'tok' } } })
  const [toA, toB] = ctx.toServer.slice(-2) as [Any, Any]
  t.not(toA.params._meta.progressToken, toB.params._meta.progressToken, 'the same token of two sessions is two tokens on the link')
  ctx.fromServer({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: toB.params._meta.progressToken, progress: 1 } })
  t.same(b.got, [{ message: { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok', progress: 1 } }, related: 1 }])
  t.same(a.got, [], 'only to its own session')
  ctx.send(a.session, { method: 'notifications/cancelled', params: { requestId: 1, reason: 'bored' } })
  t.same(ctx.toServer.at(-1), { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: toA.id, reason: 'bored' } })
  ctx.fromServer({ jsonrpc: '2.0', id: toA.id, result: {} })
  t.same(a.got, [], 'a cancelled request is not answered')
})

/** A caller session, initialized with these capabilities. */
function join(ctx: ReturnType<typeof setup>, capabilities: Any = { sampling: {}, elicitation: {} }) {
  const joined = ctx.open()
  ctx.send(joined.session, { id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities } })
  joined.got.length = 0
  return joined
}

t.test("the server's ping is answered here; its requests go to the most recent caller or are refused", async (t) => {
  const ctx = setup()
  initialize(ctx)
  ctx.fromServer({ jsonrpc: '2.0', id: 99, method: 'ping' })
  t.same(ctx.toServer.at(-1), { jsonrpc: '2.0', id: 99, result: {} })
  ctx.fromServer({ jsonrpc: '2.0', id: 100, method: 'sampling/createMessage', params: {} })
  t.match(ctx.toServer.at(-1), { id: 100, error: { code: -32601, message: /no client session that can answer sampling\/createMessage/ } }, 'nobody can answer: refused')

  const a = join(ctx)
  const b = join(ctx)
  ctx.send(a.session, { id: 1, method: 'tools/call', params: {} })
  ctx.send(b.session, { id: 5, method: 'tools/call', params: {} })
  ctx.fromServer({ jsonrpc: '2.0', id: 101, method: 'sampling/createMessage', params: { x: 1 } })
  const asked = b.got.at(-1)
  t.match(asked, { message: { method: 'sampling/createMessage', id: /^dtma-/ }, related: 5 }, "to the most recent caller, on its request's stream, under the agent's id")
  t.same(a.got, [])
  ctx.send(b.session, { id: asked?.message.id, result: { content: 'hi' } })
  t.same(ctx.toServer.at(-1), { jsonrpc: '2.0', id: 101, result: { content: 'hi' } }, "the session's answer under the server's id")
  ctx.fromServer({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })
  t.ok(a.got.some((g) => g.message.method === 'notifications/tools/list_changed') && b.got.some((g) => g.message.method === 'notifications/tools/list_changed'), 'a notification that names no request goes to every session')
})

t.test('a closed session: its requests are cancelled on the server, late answers dropped, its server requests refused', async (t) => {
  const ctx = setup()
  initialize(ctx)
  const a = join(ctx)
  ctx.send(a.session, { id: 1, method: 'tools/call', params: {} })
  const forwarded = ctx.toServer.at(-1) as Any
  ctx.fromServer({ jsonrpc: '2.0', id: 200, method: 'elicitation/create', params: {} })
  a.session.close()
  t.same(ctx.toServer.slice(-2), [
    { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: forwarded.id, reason: 'the client session ended' } },
    { jsonrpc: '2.0', id: 200, error: { code: -32000, message: 'the client session ended' } }
  ])
  const before = a.got.length
  ctx.fromServer({ jsonrpc: '2.0', id: forwarded.id, result: {} })
  t.equal(a.got.length, before, 'the late answer is dropped')
  t.equal(ctx.mux.sessionCount, 0)
})

t.test('a lost link fails what was in flight; a full session is refused at once', async (t) => {
  const ctx = setup({ maxInFlight: 2 })
  initialize(ctx)
  const a = ctx.open()
  for (const id of [1, 2, 3]) ctx.send(a.session, { id, method: 'tools/call', params: {} })
  t.match(a.got.at(-1)?.message, { id: 3, error: { message: /more than 2 requests/ } })
  ctx.mux.linkDown('the container stopped')
  t.match(a.got.slice(-2).map((g) => g.message), [{ id: 1, error: { message: /lost: the container stopped/ } }, { id: 2, error: {} }])
})
