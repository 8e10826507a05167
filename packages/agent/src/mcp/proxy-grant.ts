// The http proxy held to what a caller's credential grants (tool-grant.ts).
// On the way in, a POST's refused tools/calls are taken out (a batch keeps
// the rest): they never reach the server, and their JSON-RPC errors join
// its answer. On the way out, a tools/list result shows the granted tools
// only, in a JSON answer or in a stream of server-sent events; a stream is
// cut at event boundaries and every other event passes as soon as it ends.
// A POST's call watch (call-watch.ts), if any, is told its calls, their
// refusals and the answers found in the JSON or the events; what is still
// unanswered when the answer ends is lost (or failed, with the error status).
// A POST with nothing in it whose answer is looked at (no tools/list, no
// audited call, no refusal) gets the server's answer as it comes, whatever
// it is: a 2026-07-28 subscriptions/listen runs on as a long JSON stream.
import { Readable, Transform } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { DtmaError } from '../errors.ts'
import type { CallWatch } from './call-watch.ts'
import { isRefusedCall, refusalOf, withGrantedTools, type McpAccess } from './tool-grant.ts'

const JSON_TYPE = /^application\/json\b/i
const SSE_TYPE = /^text\/event-stream\b/i

export interface GrantedPost {
  /** What goes to the server: the message, or the batch without its refused calls; undefined: nothing is left. */
  forward: unknown
  /** The errors that answer the refused calls. */
  refusals: JSONRPCMessage[]
  batch: boolean
  /** Whether a request of it has an answer to look at: a listing to cut, a call to audit. */
  inspect: boolean
}

/** The requests whose answers the proxy reads: tools/list (the grant and the drift lock cut it) and the audited calls. */
const INSPECTED = new Set(['tools/list', 'tools/call', 'resources/read', 'prompts/get'])

export function splitPost(body: unknown, access: McpAccess, watch?: CallWatch): GrantedPost {
  const batch = Array.isArray(body)
  const messages: unknown[] = batch ? body : [body]
  for (const message of messages) watch?.request(message)
  const kept = messages.filter((message) => !isRefusedCall(message, access))
  const refusals = messages.filter((message) => isRefusedCall(message, access)).flatMap((message) => refusalOf(message, access) ?? [])
  for (const refusal of refusals) watch?.answer(refusal, true)
  const inspect = kept.some((message) => {
    const { id, method } = message as { id?: unknown; method?: unknown }
    return id !== undefined && typeof method === 'string' && INSPECTED.has(method)
  })
  return { forward: kept.length === 0 ? undefined : batch ? kept : kept[0], refusals, batch, inspect }
}

interface Answer {
  status: number
  headers: Record<string, string>
  body: Readable
}

/** The answer to a POST none of whose messages went to the server. */
export function refusedOnly(post: GrantedPost): Answer {
  if (post.refusals.length === 0) return { status: 202, headers: {}, body: Readable.from([]) }
  return jsonAnswer(200, {}, post.batch ? post.refusals : post.refusals[0])
}

function jsonAnswer(status: number, headers: Record<string, string>, value: unknown): Answer {
  const text = JSON.stringify(value)
  return { status, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }, body: Readable.from([text]) }
}

type Finish = (message: unknown) => unknown
const asIs: Finish = (message) => message

/** The server's answer as the caller may see it, with the refusals of its POST added; watch: the audit's; finish: what else each message gets. */
export async function grantedAnswer(answer: Answer, post: GrantedPost | undefined, access: McpAccess, maxMessageBytes: number, watch?: CallWatch, finish: Finish = asIs): Promise<Answer> {
  const refusals = post?.refusals ?? []
  const type = answer.headers['content-type'] ?? ''
  // Nothing to look at or add: the answer goes on as it comes (a listen stream never ends).
  if (post !== undefined && !post.inspect && refusals.length === 0 && finish === asIs) return answer
  if (answer.status >= 300) {
    watch?.failed(`the MCP server answered HTTP ${answer.status}`)
    return answer
  }
  if (SSE_TYPE.test(type)) {
    const filter = sseFilter(access, refusals, maxMessageBytes, watch, finish)
    answer.body.once('error', (error) => filter.destroy(error))
    return { ...answer, body: answer.body.pipe(filter) }
  }
  if (JSON_TYPE.test(type)) {
    const chunks: Buffer[] = []
    try {
      for await (const chunk of answer.body) chunks.push(Buffer.from(chunk as Buffer | string))
    } catch (error) {
      watch?.lost("the MCP server's answer could not be read")
      throw new DtmaError('mcp-upstream-failed', `the MCP server's answer could not be read: ${(error as Error).message}`)
    }
    const text = Buffer.concat(chunks).toString('utf8')
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch {
      watch?.failed('the MCP server answered what is not JSON')
      return { ...answer, body: Readable.from([text]) }
    }
    for (const message of Array.isArray(value) ? value : [value]) watch?.answer(message)
    watch?.lost('the MCP server\'s answer did not answer it')
    const originals: unknown[] = Array.isArray(value) ? value : [value]
    const messages = originals.map((message) => finish(withGrantedTools(message, access)))
    // Nothing cut or added (only watched): the server's bytes as it wrote them.
    if (refusals.length === 0 && messages.every((message, index) => message === originals[index])) return { ...answer, body: Readable.from([text]) }
    const all = [...messages, ...refusals]
    return jsonAnswer(answer.status, answer.headers, Array.isArray(value) || all.length > 1 ? all : all[0])
  }
  // Accepted without a body (only notifications and responses went): the refusals are the answer.
  watch?.lost('the MCP server answered without a body')
  if (refusals.length === 0) return answer
  answer.body.resume()
  return jsonAnswer(200, answer.headers, post?.batch === true ? refusals : refusals[0])
}

function eventOf(message: unknown): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`
}

/** One event (its lines, without the blank line that ends it), its tools/list result cut to the granted tools. */
function grantedEvent(event: string, access: McpAccess, watch: CallWatch | undefined, finish: Finish): string {
  const lines = event.split('\n')
  const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
  if (data.length === 0) return event
  let message: unknown
  try {
    message = JSON.parse(data.join('\n'))
  } catch {
    return event
  }
  watch?.answer(message)
  const granted = finish(withGrantedTools(message, access))
  if (granted === message) return event
  return [...lines.filter((line) => !line.startsWith('data:')), `data: ${JSON.stringify(granted)}`].join('\n')
}

/** Server-sent events with every tools/list result filtered; `first` is sent before the server's events. */
export function sseFilter(access: McpAccess, first: unknown[], maxEventBytes: number, watch?: CallWatch, finish: Finish = asIs): Transform {
  const decoder = new StringDecoder('utf8')
  let buffered = ''
  const tooLarge = () => new Error(`the MCP server sent an event of over ${maxEventBytes} bytes`)
  const take = (transform: Transform, text: string, end: boolean): Error | undefined => {
    // Line ends as SSE allows them (CRLF, LF, CR), as LF; a CR at the end may be half of a CRLF.
    const lineEnd = /[\r\n]/.test(text) || buffered.endsWith('\r')
    buffered += text
    if (!lineEnd && !end) return buffered.length > maxEventBytes ? tooLarge() : undefined
    const cut = end || !buffered.endsWith('\r') ? buffered.length : buffered.length - 1
    const normal = buffered.slice(0, cut).replace(/\r\n?/g, '\n')
    const rest = buffered.slice(cut)
    const events = normal.split('\n\n')
    buffered = (events.pop() ?? '') + rest
    for (const event of events) transform.push(`${grantedEvent(event, access, watch, finish)}\n\n`)
    if (buffered.length > maxEventBytes) return tooLarge()
    if (end && buffered !== '') transform.push(buffered)
    return undefined
  }
  const filter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      done(take(this, decoder.write(chunk), false))
    },
    flush(done) {
      done(take(this, decoder.end(), true))
    }
  })
  for (const message of first) filter.push(eventOf(message))
  filter.once('close', () => watch?.lost('the answer stream ended before the answer'))
  return filter
}
