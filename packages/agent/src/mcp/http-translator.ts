// The stateless era (2026-07-28) for an http server that speaks only the
// session era: the agent's own session to it, on which 2026 callers travel
// as they do over a stdio link. Whether the server speaks 2026 itself is
// asked once (a server/discover of its own, as a 2026 client sends it): if
// it does, its callers' requests are relayed (http-proxy.ts). If not, a
// Streamable HTTP client link (sse-link.ts with that transport) and a
// multiplexer are made on first need, the link's session initialized by an
// SDK client of the agent's (the control session, as the monitor is for a
// stdio server); the stateless bridge opens its pipes there. A link that
// drops is made again, and the question asked again, on the next request.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { DtmaError } from '../errors.ts'
import { META, STATELESS_VERSION } from './era.ts'
import { Multiplexer, type MuxObserver } from './multiplexer.ts'
import type { SessionPipe } from './mux-session.ts'
import { PipeTransport } from './pipe-transport.ts'
import { AGENT_CLIENT_CAPABILITIES } from './session-terms.ts'
import { SseLink } from './sse-link.ts'

export interface HttpTranslatorOptions {
  url(): Promise<URL>
  /** How requests reach it (the Host it expects, the deploy's credential), bounded. */
  fetch: typeof fetch
  initializeWaitMs: number
  version: string
  observer: MuxObserver
}

export class HttpTranslator {
  private readonly link: SseLink
  private readonly mux: Multiplexer
  private speaks: Promise<boolean> | undefined
  private ready: Promise<void> | undefined
  private control: Client | undefined

  constructor(private readonly options: HttpTranslatorOptions) {
    this.link = new SseLink({
      url: options.url,
      fetch: options.fetch,
      transport: (url, fetch) => new StreamableHTTPClientTransport(url, { fetch }),
      handlers: {
        message: (message) => this.mux.fromLink(message),
        up: (fresh) => this.mux.linkUp(fresh),
        down: (reason) => {
          this.mux.linkDown(reason)
          this.forget()
        }
      }
    })
    this.mux = new Multiplexer(this.link, { maxInFlight: 256, initializeWaitMs: options.initializeWaitMs, observer: options.observer })
  }

  /** How a stateless caller's pipe is opened; undefined: the server speaks 2026-07-28 itself. */
  async opener(): Promise<(() => SessionPipe) | undefined> {
    this.speaks ??= this.probe().catch((error: unknown) => {
      this.speaks = undefined
      throw new DtmaError('mcp-unavailable', `the MCP server could not be reached: ${(error as Error).message}`, { retryAfterSeconds: 5 })
    })
    if (await this.speaks) return undefined
    this.ready ??= this.start().catch((error: unknown) => {
      this.forget()
      throw new DtmaError('mcp-unavailable', `the MCP server could not be reached for a stateless request: ${(error as Error).message}`, { retryAfterSeconds: 5 })
    })
    await this.ready
    return () => this.mux.openSession()
  }

  close(): void {
    this.mux.closeAll()
    this.link.close()
    void this.control?.close()
  }

  private forget(): void {
    this.speaks = undefined
    this.ready = undefined
    const control = this.control
    this.control = undefined
    void control?.close()
  }

  private async probe(): Promise<boolean> {
    const meta = { [META.protocolVersion]: STATELESS_VERSION, [META.clientInfo]: { name: 'dtma-agent', version: this.options.version }, [META.clientCapabilities]: {} }
    const answer = await this.options.fetch(await this.options.url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': STATELESS_VERSION, 'mcp-method': 'server/discover' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } })
    })
    const text = await answer.text()
    return answer.ok && /"supportedVersions"\s*:\s*\[[^\]]*"2026-07-28"/.test(text)
  }

  private async start(): Promise<void> {
    await this.link.connect()
    const control = new Client({ name: 'dtma-agent', version: this.options.version }, { capabilities: AGENT_CLIENT_CAPABILITIES })
    this.control = control
    await control.connect(new PipeTransport(this.mux.openSession(true)))
  }
}
