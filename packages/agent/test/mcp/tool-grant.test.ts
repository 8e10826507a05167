// The tool filter's message rules where the servers of the other tests do
// not reach: an event stream cut at every byte (CRLF line ends, a
// multi-byte character split), a JSON answer (a batch) with refusals added,
// a page of a listing whose cursor must pass, a POST of refused
// notifications only, and a multiplexed session whose other answers carry a
// `tools` array of their own. mcp-grant.test.ts drives the real servers.
import { Readable } from 'node:stream'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import { grantedPipe } from '../../src/mcp/granted-pipe.ts'
import type { SessionPipe } from '../../src/mcp/mux-session.ts'
import { grantedAnswer, refusedOnly, splitPost, sseFilter } from '../../src/mcp/proxy-grant.ts'

const access = { tools: new Set(['echo', 'ünïcode']) }
const page = { jsonrpc: '2.0', id: 7, result: { tools: [{ name: 'echo' }, { name: 'secret' }, { name: 'ünïcode' }], nextCursor: 'page-2' } }
const call = (id: number, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } })

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}

function dataOf(events: string): unknown[] {
  return events
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))
}

t.test('an event stream cut at every byte: each tools/list result filtered, every other event as it was', async (t) => {
  const other = { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'ü with tools: [] in text' } }
  const source = `event: message\r\nid: 1\r\ndata: ${JSON.stringify(other)}\r\n\r\nevent: message\r\nid: 2\r\ndata: ${JSON.stringify(page)}\r\n\r\n`
  const bytes = Buffer.from(source, 'utf8')
  const filter = sseFilter(access, [call(9, 'secret')].map((message) => ({ jsonrpc: '2.0', id: message.id, error: { code: -32602 } })), 1 << 20)
  const out = text(Readable.from([...bytes].map((byte) => Buffer.from([byte]))).pipe(filter))
  const seen = await out
  const messages = dataOf(seen)
  t.comment(`expected: the refusal, the log message as sent, the page with echo and ünïcode and its cursor; seen ${JSON.stringify(messages)}`)
  t.same(messages, [{ jsonrpc: '2.0', id: 9, error: { code: -32602 } }, other, { ...page, result: { tools: [{ name: 'echo' }, { name: 'ünïcode' }], nextCursor: 'page-2' } }])
  t.match(seen, /id: 1\n/, 'the event ids pass')
  t.match(seen, /id: 2\n/)
})

t.test('an event over the bound ends the stream with an error', async (t) => {
  const filter = sseFilter(access, [], 64)
  const outcome = await text(Readable.from([`data: ${'x'.repeat(100)}`]).pipe(filter)).catch((error: Error) => error.message)
  t.match(outcome, /over 64 bytes/)
})

t.test('a JSON answer to a batch: filtered, the refusals added; a POST of refused calls only answered alone', async (t) => {
  const post = splitPost([call(1, 'echo'), call(2, 'secret'), { jsonrpc: '2.0', id: 7, method: 'tools/list' }], access)
  t.same(post.forward, [call(1, 'echo'), { jsonrpc: '2.0', id: 7, method: 'tools/list' }], 'the refused call is taken out of the batch')
  const answer = { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([JSON.stringify([{ jsonrpc: '2.0', id: 1, result: {} }, page])]) }
  const granted = await grantedAnswer(answer, post, access, 1 << 20)
  const messages = JSON.parse(await text(granted.body)) as Array<{ id: number; result?: { tools?: unknown[]; nextCursor?: string }; error?: { data?: { code?: string } } }>
  t.same(messages.map((message) => message.id), [1, 7, 2], "the server's answers, then DTMA's refusal")
  t.same(messages[1]?.result, { tools: [{ name: 'echo' }, { name: 'ünïcode' }], nextCursor: 'page-2' }, 'the page filtered, its cursor kept')
  t.equal(messages[2]?.error?.data?.code, 'DTMA_TOOL_NOT_GRANTED')
  t.equal(granted.headers['content-length'], String(Buffer.byteLength(JSON.stringify(messages))))

  const single = refusedOnly(splitPost(call(3, 'secret'), access))
  t.equal(single.status, 200)
  t.match(JSON.parse(await text(single.body)), { id: 3, error: { code: -32602 } }, 'a single refused call: its error, not a batch')
  const notification = refusedOnly(splitPost({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'secret' } }, access))
  t.equal(notification.status, 202, 'a refused notification: accepted, nothing sent, nothing to answer')
  t.equal(splitPost(call(4, 'echo'), { tools: undefined }).refusals.length, 0, 'no tools claim: nothing refused')
})

t.test('a multiplexed session: its tools/list answers filtered by id, a refused call answered without reaching the pipe', async (t) => {
  const sent: JSONRPCMessage[] = []
  const inner: SessionPipe = { send: (message) => void sent.push(message), close: () => undefined }
  const pipe = grantedPipe(inner, access)
  const received: JSONRPCMessage[] = []
  pipe.onmessage = (message) => void received.push(message)
  pipe.send(call(1, 'secret') as JSONRPCMessage)
  pipe.send({ jsonrpc: '2.0', id: 7, method: 'tools/list' } as JSONRPCMessage)
  pipe.send({ jsonrpc: '2.0', id: 8, method: 'resources/list' } as JSONRPCMessage)
  t.same(sent.map((message) => (message as { id: number }).id), [7, 8], 'the refused call never reached the multiplexer')
  inner.onmessage?.(page as JSONRPCMessage)
  inner.onmessage?.({ jsonrpc: '2.0', id: 8, result: { tools: [{ name: 'secret' }] } } as JSONRPCMessage)
  t.match(received[0], { id: 1, error: { code: -32602, data: { code: 'DTMA_TOOL_NOT_GRANTED' } } })
  t.same((received[1] as { result: unknown }).result, { tools: [{ name: 'echo' }, { name: 'ünïcode' }], nextCursor: 'page-2' }, 'the answer to tools/list filtered, its cursor kept')
  t.same((received[2] as { result: unknown }).result, { tools: [{ name: 'secret' }] }, 'the answer to another request is not touched')
})
