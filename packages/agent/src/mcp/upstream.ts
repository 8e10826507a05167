// How the agent speaks to an http or sse MCP server in its container, on
// every request of its own (the proxy's, the health monitor's, the sse
// link's): under the Host the server expects (localhost:<port>, or the
// deploy's mcpHost; a server on the SDK's DNS-rebinding protection refuses
// a container address), with the deploy's own credential (mcpAuth) and
// nothing of the caller's. The SDK's client transports get a fetch made on
// node:http for it, because fetch may not set Host.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type { McpSettings } from '@dtma/contract'
import type { McpCredential } from '../model/instance-spec.ts'

/** The headers the agent sets on every request to the server: Host, and its credential when the deploy gave one. */
export function upstreamHeaders(settings: Pick<McpSettings, 'host' | 'port'>, credential: McpCredential | undefined): Record<string, string> {
  const headers: Record<string, string> = { host: settings.host ?? `localhost:${settings.port ?? 80}` }
  if (credential !== undefined) headers[credential.header] = credential.value
  return headers
}

/** Statuses whose Response has no body. */
const NULL_BODY = new Set([204, 205, 304])

/** A fetch to the server that sends its headers (upstreamHeaders) over its
 *  own value of any the caller set; bodies are text or bytes, as the SDK's
 *  transports send them. */
export function upstreamFetch(headersOf: () => Record<string, string>): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input))
      const headers: Record<string, string> = {}
      new Headers(init?.headers).forEach((value, name) => {
        headers[name] = value
      })
      Object.assign(headers, headersOf())
      const body = bodyOf(init?.body)
      if (body !== undefined) headers['content-length'] = String(body.length)
      const method = init?.method ?? 'GET'
      const signal = init?.signal ?? undefined
      const outgoing = httpRequest(url, { method, headers, signal }, (response) => {
        // A body cut by the caller's abort ends as fetch's would: an AbortError (an event source then stays closed).
        const cut = () => response.destroy(new DOMException('the request was aborted', 'AbortError'))
        signal?.addEventListener('abort', cut, { once: true })
        response.once('close', () => signal?.removeEventListener('abort', cut))
        const status = response.statusCode ?? 502
        const empty = NULL_BODY.has(status) || method === 'HEAD'
        if (empty) response.resume()
        try {
          resolve(new Response(empty ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>), { status, statusText: response.statusMessage, headers: webHeaders(response.headers) }))
        } catch (error) {
          response.destroy()
          reject(error as Error)
        }
      })
      outgoing.once('error', reject)
      outgoing.end(body)
    })
}

function bodyOf(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string') return Buffer.from(body, 'utf8')
  if (body instanceof ArrayBuffer) return Buffer.from(body)
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  throw new TypeError('an MCP request body is text or bytes')
}

function webHeaders(headers: IncomingHttpHeaders): Headers {
  const web = new Headers()
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const one of value) web.append(name, one)
    else if (value !== undefined) web.set(name, value)
  }
  return web
}
