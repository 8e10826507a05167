// The hot path of a multiplexed server's session: a POST of one message on
// an open session is answered here, without the SDK's Streamable HTTP
// transport, which would build a web Request, Response, Headers and a
// ReadableStream for it and validate the message again with its schema
// (about a fifth of the agent's CPU per call). The body Fastify parsed goes
// to the session's pipe as it is; its answer is written to the socket once,
// as JSON when nothing else of the call comes first, and as server-sent
// events only when something does (progress, a log message, a request of
// the server for it): the headers wait for the first message of the call.
// The transport's rules were checked before (mcp.ts: Origin, Accept, the
// session and its grant, the protocol version); what the SDK's transport
// still does is the rest: initialize, batches, the GET stream, DELETE, and
// its refusal of a message that is not JSON-RPC.
import type { ServerResponse } from 'node:http'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js'
import { isJsonRpcMessage } from '../mcp/mcp-api.ts'

/** What a session needs to answer its calls here (routes/mcp-sessions.ts's HttpSession). */
export interface DirectSession {
  id: string
  active: number
  lastUsed: number
  /** The POSTs waiting for their answer, by the id of their request. */
  direct: Map<RequestId, ServerResponse>
  send(message: JSONRPCMessage): void
}

/** On a response of a call answered here: its session and its request's id (no closure per call). */
const CALL = Symbol('dtma.directCall')
type CallResponse = ServerResponse & { [CALL]?: { session: DirectSession; id: RequestId } }

export const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' }

function closed(this: CallResponse): void {
  const call = this[CALL]
  if (call === undefined) return
  this[CALL] = undefined
  call.session.active -= 1
  call.session.lastUsed = Date.now()
  if (call.session.direct.get(call.id) === this) call.session.direct.delete(call.id)
}

/** Answers the POST here when it can (one JSON-RPC message): true; false: the SDK's transport answers it. */
export function answerDirect(session: DirectSession, body: unknown, response: ServerResponse): boolean {
  if (Array.isArray(body) || !isJsonRpcMessage(body)) return false
  const { id, method } = body as { id?: RequestId; method?: string }
  session.lastUsed = Date.now()
  if (method === undefined || id === undefined) {
    // A notification or the caller's answer to a request of the server: accepted, nothing comes back on this POST.
    session.send(body)
    response.writeHead(202).end()
    return true
  }
  // The same id twice in flight: the transport's own handling (and its refusal) apply.
  if (session.direct.has(id)) return false
  const call = response as CallResponse
  call[CALL] = { session, id }
  session.active += 1
  session.direct.set(id, response)
  // A response closes once: no once() wrapper per call.
  response.on('close', closed)
  session.send(body)
  return true
}

/**
 * A message of the server for a call answered here: the bytes it leaves
 * waiting in the socket's buffer; undefined: no such call (the transport's).
 */
export function deliverDirect(session: DirectSession, message: JSONRPCMessage, relatedRequestId: RequestId): number | undefined {
  const response = session.direct.get(relatedRequestId)
  if (response === undefined) return undefined
  const { id, method } = message as { id?: RequestId; method?: string }
  const last = method === undefined && id === relatedRequestId
  const text = JSON.stringify(message)
  if (last) session.direct.delete(relatedRequestId)
  if (!response.headersSent) {
    if (last) {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'mcp-session-id': session.id })
      response.end(text)
      return 0
    }
    response.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session.id })
  }
  response.write(`event: message\ndata: ${text}\n\n`)
  if (last) response.end()
  return response.writableLength
}

/** The session ended: its calls still waiting are told so (JSON-RPC error), or their stream ends. */
export function endDirect(session: DirectSession, reason: string): void {
  for (const [id, response] of session.direct) {
    if (!response.headersSent) {
      const text = JSON.stringify({ jsonrpc: '2.0', id, error: { code: -32000, message: reason } })
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text)
    } else response.end()
  }
  session.direct.clear()
}
