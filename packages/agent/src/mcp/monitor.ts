// Protocol health of one MCP server, through the official SDK client: once
// per container start it runs initialize (retried until the start timeout),
// lists tools (and resources and prompts when announced) with a fingerprint,
// lists again on the server's list_changed notifications, and pings on an
// interval. A failed ping first tries a new initialize (a server that lost
// the agent's session, or restarted, is not a dead one); N failures in a row
// make the server unresponsive, and the owner restarts its container. Every
// failure after that says so again (the owner's backoff decides when to
// restart again), until the server answers or its container starts anew.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import type { McpHealth } from '../model/mcp-health.ts'
import { toolsFingerprint } from './fingerprint.ts'
import type { McpHealthBoard } from './health-board.ts'
import { listOffer, type Offer } from './listing.ts'

/** Retries of initialize while a server starts: quick at first (a deploy waits on it), then slower. */
const START_RETRY_MS = [50, 50, 50, 50, 100, 100, 200, 400, 800, 1000]
/** One initialize attempt waits at most this long. */
const ATTEMPT_TIMEOUT_MS = 10_000
const LIST_DEBOUNCE_MS = 100

export interface MonitorTarget {
  /** A new SDK transport to the server: one per initialize. */
  transport(): Transport
  /** What the agent declares for the sessions it stands for. */
  capabilities: ClientCapabilities
  /** Makes sure the way to the server is there (a stdio server's attach); rejects with why not. */
  connect(): Promise<void>
  /** The server did not answer: forget what is cached of the way to it (its address), read it again next time. */
  lost?(): void
}

export interface MonitorObserver {
  pinged(seconds: number, outcome: 'ok' | 'failed'): void
}

export interface MonitorOptions {
  instanceName: string
  target: MonitorTarget
  board: McpHealthBoard
  pingIntervalMs: number
  pingFailures: number
  startTimeoutMs: number
  version: string
  logger: Logger
  observer: MonitorObserver
  /** The server stopped answering: restart its container (the owner calls begin() when it runs again). */
  unresponsive(reason: string): void
  /** Its tools were listed (the drift lock judges them): what that adds to its health. */
  listed?(tools: Array<Record<string, unknown>>): Partial<McpHealth>
}

export interface Listing extends Offer {
  serverCapabilities: Record<string, unknown> | null
  instructions: string | null
}

export class HealthMonitor {
  private client: Client | undefined
  /** Every begin() or stop() starts a new generation; older async work sees it and gives up. */
  private generation = 0
  private failures = 0
  private timer: NodeJS.Timeout | undefined
  private protocolVersion: string | null = null
  private listing: Listing | undefined
  private listFailed = false
  private connecting = 0
  private readyWaiters: Array<() => void> = []

  constructor(private readonly options: MonitorOptions) {}

  /** An initialize is under way (a link it opens is not news to it). */
  get initializing(): boolean {
    return this.connecting > 0
  }

  get offer(): Listing | undefined {
    return this.listing
  }

  /** The container (re)started, or the server is new: initialize it. */
  begin(): void {
    const generation = this.reset()
    this.update({ status: 'starting' })
    void this.initialize(generation, Date.now() + this.options.startTimeoutMs, 0)
  }

  /** The container does not run. */
  stop(): void {
    this.reset()
    this.update({ status: 'stopped', lastPingMs: null })
  }

  close(): void {
    this.reset()
    this.readyWaiters = []
  }

  /** Resolves once the server answered initialize and was listed (now, if it was). */
  whenReady(): Promise<void> {
    if (this.health().status === 'ready' && this.listing !== undefined) return Promise.resolve()
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }

  private health(): McpHealth {
    return this.options.board.health(this.options.instanceName) as McpHealth
  }

  private update(change: Partial<McpHealth>): void {
    this.options.board.update(this.options.instanceName, change)
  }

  private reset(): number {
    clearTimeout(this.timer)
    this.timer = undefined
    void this.client?.close().catch(() => undefined)
    this.client = undefined
    this.failures = 0
    return ++this.generation
  }

  private async initialize(generation: number, deadline: number, attempt: number): Promise<void> {
    const ok = await this.connectClient(generation, Math.min(ATTEMPT_TIMEOUT_MS, Math.max(1, deadline - Date.now())))
    if (generation !== this.generation) return
    if (ok) return this.schedulePing(generation)
    if (Date.now() < deadline) {
      this.timer = setTimeout(() => void this.initialize(generation, deadline, attempt + 1), START_RETRY_MS[Math.min(attempt, START_RETRY_MS.length - 1)])
      return
    }
    const reason = `no answer to initialize within ${Math.round(this.options.startTimeoutMs / 1000)} s: ${this.health().lastError ?? 'no reason given'}`
    this.failures = this.options.pingFailures
    this.update({ status: 'unresponsive', lastError: reason })
    this.options.unresponsive(reason)
    this.schedulePing(generation)
  }

  /** One initialize through a new client; true when the server answered and was listed. */
  private async connectClient(generation: number, timeout: number): Promise<boolean> {
    const { target } = this.options
    const client = new Client(
      { name: 'dtma', version: this.options.version },
      { capabilities: target.capabilities, listChanged: this.onListChanged(generation) }
    )
    client.onerror = () => undefined
    this.connecting += 1
    try {
      await target.connect()
      const transport = target.transport()
      const own = transport.setProtocolVersion?.bind(transport)
      transport.setProtocolVersion = (version) => {
        this.protocolVersion = version
        own?.(version)
      }
      await client.connect(transport, { timeout })
      if (generation !== this.generation) {
        void client.close()
        return false
      }
      void this.client?.close().catch(() => undefined)
      this.client = client
      const serverCapabilities = client.getServerCapabilities() ?? {}
      this.update({
        status: 'ready',
        protocolVersion: this.protocolVersion,
        serverInfo: (client.getServerVersion() as McpHealth['serverInfo']) ?? null,
        serverCapabilities: Object.keys(serverCapabilities),
        checkedAt: new Date().toISOString(),
        lastError: null
      })
      this.failures = 0
      await this.list(generation, client)
      return true
    } catch (error) {
      void client.close().catch(() => undefined)
      target.lost?.()
      if (generation === this.generation) this.update({ lastError: `initialize: ${(error as Error).message}` })
      return false
    } finally {
      this.connecting -= 1
    }
  }

  private async list(generation: number, client: Client): Promise<void> {
    try {
      const offer = await listOffer(client, { timeout: ATTEMPT_TIMEOUT_MS })
      if (generation !== this.generation) return
      this.listFailed = false
      this.listing = { ...offer, serverCapabilities: client.getServerCapabilities() ?? null, instructions: client.getInstructions() ?? null }
      const judged = this.options.listed?.(offer.tools) ?? {}
      this.update({ tools: offer.tools, toolsCount: offer.tools.length, toolsFingerprint: toolsFingerprint(offer.tools), checkedAt: new Date().toISOString(), ...judged })
    } catch (error) {
      if (generation !== this.generation) return
      this.listFailed = true
      this.update({ status: 'degraded', lastError: `listing failed: ${(error as Error).message}` })
    }
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const resolve of waiters) resolve()
  }

  private onListChanged(generation: number) {
    const relist = () => {
      if (generation === this.generation && this.client !== undefined) void this.list(generation, this.client)
    }
    // The SDK debounces the notifications; the listing itself pages (see listing.ts).
    const handler = { autoRefresh: false, debounceMs: LIST_DEBOUNCE_MS, onChanged: relist }
    return { tools: handler, resources: handler, prompts: handler }
  }

  private schedulePing(generation: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.ping(generation), this.options.pingIntervalMs)
  }

  private async ping(generation: number): Promise<void> {
    const timeout = Math.min(this.options.pingIntervalMs, ATTEMPT_TIMEOUT_MS)
    const started = performance.now()
    let error: Error | undefined
    try {
      if (this.client === undefined) throw new Error('not initialized')
      await this.options.target.connect()
      await this.client.ping({ timeout })
    } catch (caught) {
      error = caught as Error
    }
    if (generation !== this.generation) return
    const seconds = (performance.now() - started) / 1000
    this.options.observer.pinged(seconds, error === undefined ? 'ok' : 'failed')
    if (error === undefined) {
      this.failures = 0
      this.update({ status: 'ready', lastPingMs: Math.round(seconds * 1e6) / 1000, checkedAt: new Date().toISOString(), ...(this.health().status !== 'ready' && { lastError: null }) })
      if (this.listFailed && this.client !== undefined) await this.list(generation, this.client)
    } else if (!(await this.connectClient(generation, timeout))) {
      if (generation !== this.generation) return
      this.failed(error)
    }
    if (generation === this.generation) this.schedulePing(generation)
  }

  private failed(error: Error): void {
    this.failures += 1
    const { pingFailures } = this.options
    if (this.failures < pingFailures) return this.update({ status: 'degraded', lastError: `ping failed (${this.failures} of ${pingFailures}): ${error.message}` })
    const reason = `no answer to ${this.failures} pings in a row: ${error.message}`
    this.update({ status: 'unresponsive', lastError: reason })
    // Again after every failure: a restart that did not help, or failed, is followed by another.
    this.options.unresponsive(reason)
  }
}
