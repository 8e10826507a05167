// The GET stream of a multiplexed server's session: the server's messages
// that belong to no request of the caller (its notifications, its requests)
// are written here as server-sent events, not through the SDK's Streamable
// HTTP transport. The transport checks each message it sends against two
// schemas (a notification fails both, and each failure builds its error
// messages) and queues it, encoded, in a web ReadableStream: under a server
// that talks without end that was most of the garbage the agent made, and
// the queue was memory the agent could only estimate. Here the bytes that
// wait for the caller are the response's own (writableLength: its buffer and
// its socket's), which the session's bound is held to (mcp-sessions.ts).
// The transport's checks of a GET were made before (mcp.ts: Origin, Accept,
// the session and its grant, the protocol version, one stream per session);
// like the transport without an event store, nothing is kept for a caller
// with no stream open (no resumption), and a comment line every 15 s keeps
// idle connections open through proxies.
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import type { ServerResponse } from 'node:http'
import { SSE_HEADERS } from './mcp-direct.ts'

/** The SDK transport's interval of keep-alive comments on a stream. */
const KEEP_ALIVE_MS = 15_000

/** What a session needs for its GET stream (routes/mcp-sessions.ts's HttpSession). */
export interface StreamSession {
  id: string
  active: number
  lastUsed: number
  /** The open GET stream (the transport allows one). */
  stream?: ServerResponse
}

/** Opens the session's GET stream on this response: the server's messages for no request go to it until it closes. */
export function openStream(session: StreamSession, response: ServerResponse): void {
  response.writeHead(200, { ...SSE_HEADERS, 'mcp-session-id': session.id })
  response.flushHeaders()
  session.stream = response
  session.active += 1
  session.lastUsed = Date.now()
  const keepAlive = setInterval(() => response.write(': keepalive\n\n'), KEEP_ALIVE_MS)
  keepAlive.unref()
  response.once('close', () => {
    clearInterval(keepAlive)
    if (session.stream === response) session.stream = undefined
    session.active -= 1
    session.lastUsed = Date.now()
  })
}

/**
 * A message of the server for no request: written to the session's stream;
 * the bytes it leaves waiting for the caller; undefined: no stream is open
 * (the message is dropped).
 */
export function deliverStream(session: StreamSession, message: JSONRPCMessage): number | undefined {
  const response = session.stream
  if (response === undefined) return undefined
  response.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
  return response.writableLength
}

/** The session ended: its stream ends; `unread`: its caller does not read, what waits for it is dropped with the connection. */
export function endStream(session: StreamSession, unread: boolean): void {
  const response = session.stream
  if (response === undefined) return
  session.stream = undefined
  if (unread) response.destroy()
  else response.end()
}
