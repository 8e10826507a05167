// The way through to an http (Streamable HTTP) MCP server: a reverse proxy
// to the container's own endpoint on the tools' network (the agent reaches
// container addresses from the host; the port need not be published), on
// node:http. The server is sent the Host it expects and the deploy's own
// credential (upstream.ts), never the caller's bearer token or Origin. Every
// MCP header passes both ways, and what the server answers reaches the
// caller as it was sent: a JSON-RPC error with its status, id, code and data,
// a 405 on GET (no stream here), any 2xx on DELETE. What the proxy refuses
// itself is a JSON-RPC error: a server that cannot be reached (503), one
// that answers what is not MCP, or refuses DTMA's credential (502).
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { Readable, Transform } from 'node:stream'
import { ErrorCode, mcpErrorBody } from '@dtma/contract'
import { DtmaError } from '../errors.ts'
import { grantedAnswer, refusedOnly, splitPost } from './proxy-grant.ts'
import type { CallWatch } from './call-watch.ts'
import type { McpAccess } from './tool-grant.ts'

/** Besides every Mcp-* header (Mcp-Session-Id, MCP-Protocol-Version, Mcp-Method, Mcp-Name, ...). */
const FORWARDED_REQUEST_HEADERS = new Set(['content-type', 'accept', 'last-event-id'])
const FORWARDED_RESPONSE_HEADERS = new Set(['content-type', 'cache-control', 'allow', 'retry-after'])
const CONNECT_TIMEOUT_MS = 5000
/** Of an answer that is not MCP, this much of the server's body is read for its sentence. */
const SAID_BYTES = 4096
const JSON_TYPE = /^application\/json\b/i
const SSE_TYPE = /^text\/event-stream\b/i

export interface ProxiedRequest {
  method: string
  headers: IncomingHttpHeaders
  /** The parsed JSON body of a POST. */
  body?: unknown
  /** Aborted when the caller goes away. */
  signal: AbortSignal
}

export interface ProxiedAnswer {
  status: number
  headers: Record<string, string>
  body: Readable
}

function forwarded(headers: IncomingHttpHeaders, names: Set<string>): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' && (names.has(name) || name.startsWith('mcp-'))) kept[name] = value
  }
  return kept
}

/** Relays one request; `upstream` is what the agent adds (Host, the deploy's credential); held to the caller's access (proxy-grant.ts);
 *  a POST's calls told to the watch `watchOf` makes for it (the audit). */
export async function proxyToServer(url: URL, upstream: Record<string, string>, request: ProxiedRequest, maxMessageBytes: number, access: McpAccess = {}, watchOf?: () => CallWatch): Promise<ProxiedAnswer> {
  const watch = request.method === 'POST' ? watchOf?.() : undefined
  const post = request.method === 'POST' ? splitPost(request.body, access, watch) : undefined
  if (post !== undefined && post.forward === undefined) return refusedOnly(post)
  let answer: ProxiedAnswer
  try {
    answer = await relay(url, upstream, post === undefined ? request : { ...request, body: post.forward }, maxMessageBytes)
  } catch (error) {
    watch?.lost((error as Error).message)
    throw error
  }
  return grantedAnswer(answer, post, access, maxMessageBytes, watch)
}

async function relay(url: URL, upstream: Record<string, string>, request: ProxiedRequest, maxMessageBytes: number): Promise<ProxiedAnswer> {
  const headers = { ...forwarded(request.headers, FORWARDED_REQUEST_HEADERS), ...upstream }
  const body = request.body === undefined ? undefined : JSON.stringify(request.body)
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
  const response = await send(url, request, headers, body)
  const status = response.statusCode ?? 502
  const type = response.headers['content-type'] ?? ''
  const answer = { status, headers: forwarded(response.headers, FORWARDED_RESPONSE_HEADERS) }
  // A stream of events runs as long as both ends want; any other answer is one message, bounded.
  if (SSE_TYPE.test(type) && status < 300) return { ...answer, body: response }
  const bounded = () => response.pipe(byteLimit(maxMessageBytes))
  if (status === 401) {
    response.destroy()
    throw new DtmaError('mcp-upstream-failed', "the MCP server refused DTMA's credential for it (401): deploy it with the mcpAuth it requires")
  }
  if (status >= 400) {
    if (JSON_TYPE.test(type) || response.headers['content-length'] === '0' || type === '') return { ...answer, body: bounded() }
    // An error page: its status still tells the client, with a JSON-RPC error for a body.
    return notMcp(status < 500 ? status : 502, response, answer.headers)
  }
  // A 2xx: any on DELETE, an accepted message without a body, or one JSON answer to a POST.
  if (status < 300 && (request.method === 'DELETE' || status === 202 || status === 204 || (request.method === 'POST' && JSON_TYPE.test(type)))) return { ...answer, body: bounded() }
  return notMcp(502, response, answer.headers, ' (is mcpEndpoint right?)')
}

function send(url: URL, request: ProxiedRequest, headers: Record<string, string>, body: string | undefined): Promise<IncomingMessage> {
  return new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = httpRequest(url, { method: request.method, headers, signal: request.signal }, resolve)
    const connectTimer = setTimeout(() => outgoing.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS)
    const connected = () => clearTimeout(connectTimer)
    outgoing.once('socket', (socket) => {
      // A kept-alive socket is connected already: nothing is added to it.
      if (!socket.connecting) return connected()
      socket.once('connect', connected)
      outgoing.once('close', () => socket.off('connect', connected))
    })
    outgoing.once('response', connected)
    outgoing.once('error', (error) => {
      connected()
      reject(new DtmaError('mcp-unavailable', `the MCP server cannot be reached: ${error.message}`))
    })
    outgoing.end(body)
  })
}

/** An answer that is not MCP (an error page, a redirect, HTML for a POST): its status, and a JSON-RPC error naming what the server said. */
async function notMcp(status: number, response: IncomingMessage, headers: Record<string, string>, hint = ''): Promise<ProxiedAnswer> {
  const type = response.headers['content-type'] ?? ''
  let text = ''
  for await (const chunk of response) {
    text += (chunk as Buffer).toString('utf8')
    if (text.length >= SAID_BYTES) break
  }
  response.destroy()
  const said = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200)
  const what = `${response.statusCode} with ${JSON.stringify(type.slice(0, 60) || 'no content type')}`
  const body = JSON.stringify(mcpErrorBody(status, ErrorCode.mcpUpstreamFailed, `the MCP server answered ${what}, not MCP${hint}${said === '' ? '' : `: ${said}`}`))
  delete headers['content-type']
  return { status, headers: { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)) }, body: Readable.from([body]) }
}

function byteLimit(maxBytes: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      if (seen > maxBytes) return done(new Error(`the MCP server's answer is over ${maxBytes} bytes`))
      done(null, chunk)
    }
  })
}
