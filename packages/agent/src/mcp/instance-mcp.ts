// The MCP side of one instance, for one container: a stdio or sse server
// gets a link and the multiplexer its sessions share; an http server gets
// the address of its own endpoint, for the proxy. Either way a health monitor
// watches it. The owner tells it when its container runs (and since when) and
// when it does not: a new start time is a restart, behind the agent's back or
// not, and the server is initialized again at an address read again.
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { McpSettings } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { McpCredential } from '../model/instance-spec.ts'
import type { McpHealth } from '../model/mcp-health.ts'
import type { McpConfig } from '../model/mcp-config.ts'
import type { ContainerRuntime } from '../runtime/types.ts'
import { boundedFetch } from './bounded-fetch.ts'
import type { McpHealthBoard } from './health-board.ts'
import type { LinkHandlers, LinkObserver, MessageLink } from './link.ts'
import { HealthMonitor, type MonitorObserver, type MonitorTarget } from './monitor.ts'
import { Multiplexer, type MuxObserver } from './multiplexer.ts'
import type { SessionPipe } from './mux-session.ts'
import { PipeTransport } from './pipe-transport.ts'
import { AGENT_CLIENT_CAPABILITIES } from './session-terms.ts'
import { SseLink } from './sse-link.ts'
import { StdioLink } from './stdio-link.ts'
import { upstreamFetch, upstreamHeaders } from './upstream.ts'
import { HttpTranslator } from './http-translator.ts'

export type McpObserver = LinkObserver & MuxObserver & MonitorObserver

export interface InstanceMcpOptions {
  instanceName: string
  settings: McpSettings
  containerId: string
  runtime: Pick<ContainerRuntime, 'attach' | 'inspect'>
  /** The deploy's credential for its http or sse server, read from the store when needed. */
  credential(): McpCredential | undefined
  config: McpConfig
  board: McpHealthBoard
  version: string
  logger: Logger
  observer: McpObserver
  unresponsive(reason: string): void
  /** Its tools were listed: what the drift lock adds to its health. */
  listed?(tools: Array<Record<string, unknown>>): Partial<McpHealth>
}

export class InstanceMcp {
  readonly containerId: string
  readonly monitor: HealthMonitor
  private readonly link: MessageLink | undefined
  private readonly mux: Multiplexer | undefined
  /** An http server's: the agent's own session to it, for stateless callers when it speaks only the session era. */
  private readonly translator: HttpTranslator | undefined
  private address: string | undefined
  private running = false
  /** When the container last started, as its view said; null: not known. */
  private startedAt: string | null = null
  private readonly closing = new AbortController()
  /** Every request of the agent's own to an http or sse server goes with its Host and credential. */
  private readonly upstreamFetch = upstreamFetch(() => this.upstreamHeaders())

  constructor(private readonly options: InstanceMcpOptions) {
    const { settings, config } = options
    this.containerId = options.containerId
    const handlers: LinkHandlers = {
      message: (message) => this.mux?.fromLink(message),
      up: (fresh) => {
        this.mux?.linkUp(fresh)
        // A new server process the monitor is not already initializing (a restart behind its back).
        if (fresh && this.running && !this.monitor.initializing) this.monitor.begin()
      },
      down: (reason) => {
        // The server may be back elsewhere (a restart on the tools' network may give a new address).
        this.address = undefined
        this.mux?.linkDown(reason)
      }
    }
    if (settings.transport === 'stdio') {
      this.link = new StdioLink({ runtime: options.runtime, containerId: options.containerId, maxMessageBytes: config.maxMessageBytes, logger: options.logger, observer: options.observer, handlers })
    } else if (settings.transport === 'sse') {
      this.link = new SseLink({ url: () => this.url(), fetch: this.upstreamFetch, handlers })
    }
    if (this.link !== undefined) this.mux = new Multiplexer(this.link, { maxInFlight: 256, initializeWaitMs: config.startTimeoutMs, observer: options.observer })
    if (settings.transport === 'http') {
      const fetch = boundedFetch(this.closing.signal, this.upstreamFetch)
      this.translator = new HttpTranslator({ url: () => this.url(), fetch, initializeWaitMs: config.startTimeoutMs, version: options.version, observer: options.observer })
    }
    this.monitor = new HealthMonitor({
      instanceName: options.instanceName,
      target: this.monitorTarget(),
      board: options.board,
      pingIntervalMs: config.pingIntervalMs,
      pingFailures: config.pingFailures,
      startTimeoutMs: config.startTimeoutMs,
      version: options.version,
      logger: options.logger,
      observer: options.observer,
      unresponsive: (reason) => options.unresponsive(reason),
      ...(options.listed !== undefined && { listed: options.listed })
    })
  }

  get multiplexed(): boolean {
    return this.mux !== undefined
  }

  get sessionCount(): number {
    return this.mux?.sessionCount ?? 0
  }

  /** The container runs, started at startedAt (null: not known): (re)initialize
   *  its server, unless it was already running since then. */
  containerRunning(startedAt: string | null = null): void {
    const restarted = this.running && startedAt !== null && this.startedAt !== null && startedAt !== this.startedAt
    if (startedAt !== null) this.startedAt = startedAt
    if (this.running && !restarted) return
    this.running = true
    this.address = undefined
    this.monitor.begin()
  }

  containerStopped(): void {
    if (!this.running) return
    this.running = false
    this.monitor.stop()
  }

  openSession(): SessionPipe {
    if (this.mux === undefined) throw new DtmaError('not-mcp', 'this MCP server is reached through its own endpoint')
    return this.mux.openSession()
  }

  /** An http server's stateless callers: how their pipes open, or undefined when the server speaks 2026-07-28 itself. */
  statelessOpener(): Promise<(() => SessionPipe) | undefined> {
    if (this.translator === undefined) return Promise.resolve(() => this.openSession())
    return this.translator.opener()
  }

  /** The server's own endpoint (http, sse), on the container's address on the tools' network. */
  async url(): Promise<URL> {
    const { settings, runtime, containerId } = this.options
    if (this.address === undefined) {
      const info = await runtime.inspect(containerId)
      if (info?.dockerState !== 'running' || info.ipAddress === undefined) throw new DtmaError('mcp-unavailable', 'its container is not running')
      this.address = info.ipAddress
    }
    if (settings.port === null) throw new DtmaError('mcp-unavailable', 'no MCP port is known for it (give mcpPort, or a container port)')
    return new URL(`http://${this.address}:${settings.port}${settings.endpoint}`)
  }

  /** What the agent adds to every request to an http or sse server: the Host it expects, the deploy's credential. */
  upstreamHeaders(): Record<string, string> {
    return upstreamHeaders(this.options.settings, this.options.credential())
  }

  close(): void {
    this.running = false
    this.closing.abort()
    this.monitor.close()
    this.mux?.closeAll()
    this.link?.close()
    this.translator?.close()
  }

  private monitorTarget(): MonitorTarget {
    const { link, mux } = this
    if (link !== undefined && mux !== undefined) {
      return { capabilities: AGENT_CLIENT_CAPABILITIES, connect: () => link.connect(), transport: () => new PipeTransport(mux.openSession(true)) }
    }
    let url: URL | undefined
    return {
      capabilities: {},
      lost: () => {
        this.address = undefined
      },
      connect: async () => {
        url = await this.url()
      },
      transport: () => new StreamableHTTPClientTransport(url as URL, { fetch: boundedFetch(this.closing.signal, this.upstreamFetch) })
    }
  }
}
