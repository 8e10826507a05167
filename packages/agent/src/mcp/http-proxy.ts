// The way through to an http (Streamable HTTP) MCP server: a reverse proxy
// to the container's own endpoint on the tools' network (the agent reaches
// container addresses from the host; the port need not be published). The
// MCP headers, the session id and the SSE stream pass through as they are,
// with backpressure both ways; the caller's bearer token and Origin never
// reach the container. A refusal of the server becomes DTMA's error body
// with the same status (a 404 still tells a client to start a new session);
// a server that fails, or cannot be reached, is a 502 or a 503.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http'
import { Transform, type Readable } from 'node:stream'
import { DtmaError, type ErrorKind } from '../errors.ts'

const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'] as const
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'mcp-session-id', 'mcp-protocol-version', 'cache-control'] as const
const CONNECT_TIMEOUT_MS = 5000
/** Of a refusal, this much of the server's body is read for its sentence. */
const REFUSAL_BYTES = 4096

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

/** The server's refusals that keep their status; any other 4xx is a 400. */
const KEPT: Record<number, ErrorKind> = { 400: 'invalid', 404: 'mcp-session-not-found', 406: 'mcp-not-acceptable', 409: 'conflict', 413: 'mcp-too-large' }

export async function proxyToServer(url: URL, request: ProxiedRequest, maxMessageBytes: number): Promise<ProxiedAnswer> {
  const headers: Record<string, string> = {}
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  const body = request.body === undefined ? undefined : JSON.stringify(request.body)
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = httpRequest(url, { method: request.method, headers, signal: request.signal }, resolve)
    const connectTimer = setTimeout(() => outgoing.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS)
    outgoing.once('socket', (socket) => socket.once('connect', () => clearTimeout(connectTimer)))
    outgoing.once('response', () => clearTimeout(connectTimer))
    outgoing.once('error', (error) => {
      clearTimeout(connectTimer)
      reject(new DtmaError('mcp-unavailable', `the MCP server cannot be reached: ${error.message}`))
    })
    outgoing.end(body)
  })
  const status = response.statusCode ?? 502
  if (status >= 300) throw await refusal(status, response)
  const type = response.headers['content-type'] ?? ''
  if (status !== 202 && !/^(application\/json|text\/event-stream)\b/.test(type) && !(request.method === 'DELETE' && response.headers['content-length'] === '0')) {
    response.destroy()
    throw new DtmaError('mcp-upstream-failed', `the MCP server answered ${status} with ${JSON.stringify(type.slice(0, 60) || 'no content type')}, not MCP (is mcpEndpoint right?)`)
  }
  const answer: Record<string, string> = {}
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = response.headers[name]
    if (typeof value === 'string') answer[name] = value
  }
  // A stream of events runs as long as both ends want; one JSON answer is one message, bounded.
  const isStream = (answer['content-type'] ?? '').startsWith('text/event-stream')
  return { status, headers: answer, body: isStream ? response : response.pipe(byteLimit(maxMessageBytes)) }
}

async function refusal(status: number, response: IncomingMessage): Promise<DtmaError> {
  let text = ''
  for await (const chunk of response) {
    text += (chunk as Buffer).toString('utf8')
    if (text.length >= REFUSAL_BYTES) break
  }
  response.destroy()
  let said = text.slice(0, 200)
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown }
    const message = typeof parsed.error === 'object' ? parsed.error.message : (parsed.error ?? parsed.message)
    if (typeof message === 'string') said = message.slice(0, 200)
  } catch {
    // Not JSON: its first words are said as they are.
  }
  const sentence = `the MCP server answered ${status}${said.trim() === '' ? '' : `: ${said.trim()}`}`
  if (status >= 500 || status < 400) return new DtmaError('mcp-upstream-failed', sentence)
  return new DtmaError(KEPT[status] ?? 'invalid', sentence)
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
