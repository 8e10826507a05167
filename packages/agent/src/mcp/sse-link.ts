// The link to a legacy HTTP+SSE MCP server: one SDK SSEClientTransport (its
// event stream for the server's messages, a POST per message to the endpoint
// it names). Each new connection is a new session on the server, so it is
// fresh to the multiplexer; a dropped one is made again on the next connect.
// Given another client transport (Streamable HTTP), the same link is the
// agent's own session to an http server (http-translator.ts).
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { boundedFetch } from './bounded-fetch.ts'
import type { LinkHandlers, MessageLink } from './link.ts'

const START_TIMEOUT_MS = 10_000

export interface SseLinkOptions {
  /** The server's SSE endpoint (its container's address may change with a restart). */
  url(): Promise<URL>
  /** How requests reach it (with the Host it expects and its credential); the global fetch if not given. */
  fetch?: typeof fetch
  handlers: LinkHandlers
  /** How long a start waits for the server's endpoint event (default 10 s). */
  startTimeoutMs?: number
  /** The client transport to the server; an SSEClientTransport if not given. */
  transport?: (url: URL, fetcher: typeof globalThis.fetch) => Transport
}

export class SseLink implements MessageLink {
  private transport: Transport | undefined
  private connecting: Promise<void> | undefined
  private closed = false
  private readonly closing = new AbortController()
  private readonly fetch: typeof fetch

  constructor(private readonly options: SseLinkOptions) {
    this.fetch = boundedFetch(this.closing.signal, options.fetch)
  }

  get isUp(): boolean {
    return this.transport !== undefined
  }

  send(message: JSONRPCMessage): boolean {
    const transport = this.transport
    if (transport === undefined) return false
    transport.send(message).catch((error: Error) => this.lost(transport, error.message))
    return true
  }

  connect(): Promise<void> {
    if (this.transport !== undefined || this.closed) return Promise.resolve()
    this.connecting ??= this.open().finally(() => (this.connecting = undefined))
    return this.connecting
  }

  close(): void {
    this.closed = true
    this.closing.abort()
    void this.transport?.close()
    this.transport = undefined
  }

  private async open(): Promise<void> {
    const url = await this.options.url()
    const transport = this.options.transport?.(url, this.fetch) ?? new SSEClientTransport(url, { fetch: this.fetch, eventSourceInit: { fetch: this.fetch } })
    transport.onmessage = (message: JSONRPCMessage) => {
      if (this.transport === transport) this.options.handlers.message(message)
    }
    // The event source would reconnect by itself into a new, uninitialized session: end it instead.
    transport.onerror = (error) => this.lost(transport, error.message)
    transport.onclose = () => this.lost(transport, 'the event stream closed')
    // A start that failed (the server not listening yet) leaves an event source that would reconnect by itself.
    // Bounded: a server that answers the stream's headers but never names its endpoint would hold every
    // later connect (they share this one) and the monitor's start with it.
    const limit = this.options.startTimeoutMs ?? START_TIMEOUT_MS
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`the server named no endpoint within ${limit} ms`)), limit)
    })
    await Promise.race([transport.start(), late])
      .catch(async (error: unknown) => {
        await transport.close()
        throw error
      })
      .finally(() => clearTimeout(timer))
    if (this.closed) return void transport.close()
    this.transport = transport
    this.options.handlers.up(true)
  }

  private lost(transport: Transport, reason: string): void {
    if (this.transport !== transport) return
    this.transport = undefined
    void transport.close()
    this.options.handlers.down(reason)
  }
}
