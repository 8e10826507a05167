// What the MCP side tells the audit trail, at the two places it sees a
// caller's messages: a multiplexed session (granted-pipe.ts) and a POST to an
// http server (proxy-grant.ts). Every outcome is produced as it happens
// there (an answer, a tool error, the grant's refusal, a session closed or a
// link lost before the answer, a stream cut, an error status) and the
// record it leaves is checked; the digest does not depend on key order.
import { Readable } from 'node:stream'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import type { CallRecord } from '../../src/model/call-record.ts'
import { argumentsDigest, CallWatch } from '../../src/mcp/call-watch.ts'
import { grantedPipe } from '../../src/mcp/granted-pipe.ts'
import { LINK_LOST } from '../../src/mcp/multiplexer.ts'
import type { SessionPipe } from '../../src/mcp/mux-session.ts'
import { grantedAnswer, splitPost } from '../../src/mcp/proxy-grant.ts'

function watch(records: CallRecord[]): CallWatch {
  return new CallWatch({ recorder: { record: (call) => records.push(call) }, instanceName: 'inst', caller: 'alice', listed: (_method, target) => target === 'echo' })
}

const call = (id: number, name: string, args: unknown = { text: 'v' }) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }) as JSONRPCMessage
const summary = (records: CallRecord[]) => records.map((r) => `${r.target} ${r.outcome}${r.reason === undefined ? '' : ` ${r.reason}`}${r.errorCode === undefined ? '' : ` ${r.errorCode}`}`)

t.test('a multiplexed session: answers, refusals, and what never got one', async (t) => {
  const records: CallRecord[] = []
  const sent: JSONRPCMessage[] = []
  const inner: SessionPipe = { send: (message) => sent.push(message), close: () => inner.onclose?.() }
  const pipe = grantedPipe(inner, { tools: new Set(['echo', 'add']) }, watch(records))
  const toCaller: JSONRPCMessage[] = []
  pipe.onmessage = (message) => toCaller.push(message)

  pipe.send(call(1, 'echo'))
  inner.onmessage?.({ jsonrpc: '2.0', id: 1, result: { content: [] } })
  pipe.send(call(2, 'add'))
  inner.onmessage?.({ jsonrpc: '2.0', id: 2, result: { content: [], isError: true } })
  pipe.send(call(3, 'secret'))
  pipe.send({ jsonrpc: '2.0', id: 4, method: 'prompts/get', params: { name: 'p' } })
  inner.onmessage?.({ jsonrpc: '2.0', id: 4, error: { code: -32042, message: 'failed' } })
  pipe.send(call(5, 'echo'))
  inner.onmessage?.({ jsonrpc: '2.0', id: 5, error: { code: -32000, message: `${LINK_LOST}: the server exited` } })
  pipe.send({ jsonrpc: '2.0', id: 6, method: 'tools/list' })
  pipe.send(call(7, 'echo'))
  pipe.close()
  t.same(summary(records), ['echo ok', 'add tool-error', 'secret refused DTMA_TOOL_NOT_GRANTED -32602', 'p protocol-error -32042', `echo lost ${LINK_LOST}`, 'echo lost the session closed before the answer'])
  t.equal(sent.filter((message) => (message as { id?: number }).id === 3).length, 0, 'the refused call never reached the server')
  t.same(records.map((r) => r.listed), [true, false, false, false, true, true], 'listed as the server listed them')
  t.ok(records.every((r) => r.caller === 'alice' && r.instanceName === 'inst' && r.durationMs >= 0))
})

t.test('a POST to an http server: JSON, events, an error status, a stream cut short', async (t) => {
  const records: CallRecord[] = []
  const access = { tools: new Set(['echo']) }
  const json = (value: unknown) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([JSON.stringify(value)]) })
  let w = watch(records)
  let post = splitPost([call(1, 'echo'), call(2, 'secret'), call(3, 'echo')], access, w)
  await grantedAnswer(json([{ jsonrpc: '2.0', id: 1, result: {} }]), post, access, 1 << 20, w)
  t.same(summary(records), ['secret refused DTMA_TOOL_NOT_GRANTED -32602', 'echo ok', "echo lost the MCP server's answer did not answer it"])

  records.length = 0
  w = watch(records)
  post = splitPost(call(4, 'echo'), access, w)
  await grantedAnswer({ status: 500, headers: {}, body: Readable.from([]) }, post, access, 1 << 20, w)
  t.same(summary(records), ['echo protocol-error the MCP server answered HTTP 500'])

  records.length = 0
  w = watch(records)
  post = splitPost([call(5, 'echo'), call(6, 'echo')], access, w)
  const events = Readable.from([`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 5, result: { isError: true } })}\n\n`])
  const answer = await grantedAnswer({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: events }, post, access, 1 << 20, w)
  for await (const _chunk of answer.body) void _chunk
  await new Promise((resolve) => setImmediate(resolve))
  t.same(summary(records), ['echo tool-error', 'echo lost the answer stream ended before the answer'])
})

t.test('the digest is of the canonical JSON of the arguments', async (t) => {
  const a = argumentsDigest({ b: 1, a: { d: [{ y: 1, x: 2 }], c: 'é' } })
  const b = argumentsDigest({ a: { c: 'é', d: [{ x: 2, y: 1 }] }, b: 1 })
  t.equal(a, b, 'key order does not matter')
  t.not(argumentsDigest({ a: 1 }), argumentsDigest({ a: '1' }), 'types do')
  t.not(argumentsDigest([1, 2]), argumentsDigest([2, 1]), 'array order does')
  t.equal(argumentsDigest(undefined), argumentsDigest(null), 'no arguments: the digest of null')
  t.match(a, /^[0-9a-f]{64}$/)
})
