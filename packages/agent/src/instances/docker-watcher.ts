// Keeps DTMA connected to Docker: follows the event stream of managed
// containers, runs a full resync after every (re)connect and periodically
// (events for speed, relist for truth), and when the daemon goes away marks
// Docker unavailable and reconnects with backoff. One log line per outage;
// event lines that cannot be read are counted and logged once.
import type { Logger } from 'pino'
import { OutageLog } from '../outage-log.ts'
import type { ContainerEvent, ContainerRuntime, EventSubscription } from '../runtime/types.ts'

export interface DockerWatcherOptions {
  runtime: ContainerRuntime
  logger: Logger
  onEvent: (event: ContainerEvent) => void
  /** Full resync; runs after each connect and every resyncIntervalMs. */
  resync: () => Promise<void>
  resyncIntervalMs: number
  maxBackoffMs?: number
}

const FIRST_BACKOFF_MS = 250

export class DockerWatcher {
  private readonly options: DockerWatcherOptions
  private subscription: EventSubscription | undefined
  private resyncTimer: NodeJS.Timeout | undefined
  private reconnectTimer: NodeJS.Timeout | undefined
  private backoffMs = FIRST_BACKOFF_MS
  private stopped = false
  private readonly outage: OutageLog
  private connectedOnce!: () => void
  /** Resolves after the first successful connect and resync. */
  readonly firstSync: Promise<void> = new Promise((resolve) => (this.connectedOnce = resolve))
  available = false
  /** Lines of Docker's event stream skipped because they were not events (the resync covers what they said). */
  malformedEventLines = 0
  /** Why Docker is unavailable, for /status. */
  lastError: string | undefined = 'not connected to Docker yet'

  constructor(options: DockerWatcherOptions) {
    this.options = options
    this.outage = new OutageLog(options.logger, { down: 'Docker unavailable; reconnecting with backoff', up: 'Docker is back; resynced' })
  }

  start(): void {
    void this.connect()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.reconnectTimer)
    clearInterval(this.resyncTimer)
    this.subscription?.close()
  }

  /** Called when an operation finds Docker unreachable before the stream does. */
  reportUnavailable(error: Error): void {
    if (!this.available) return
    this.disconnect(error)
  }

  private async connect(): Promise<void> {
    if (this.stopped) return
    try {
      await this.options.runtime.ping()
      // Subscribe before listing, so nothing happens unseen in between.
      this.subscription = await this.options.runtime.subscribe({ onEvent: this.options.onEvent, onEnd: (error) => this.disconnect(error), onMalformed: (reason) => this.onMalformed(reason) })
      await this.options.resync()
      this.available = true
      this.lastError = undefined
      this.backoffMs = FIRST_BACKOFF_MS
      this.outage.recovered()
      clearInterval(this.resyncTimer)
      this.resyncTimer = setInterval(() => void this.periodicResync(), this.options.resyncIntervalMs)
      this.resyncTimer.unref()
      this.connectedOnce()
    } catch (error) {
      this.subscription?.close()
      this.subscription = undefined
      this.noteOutage(error as Error)
      this.scheduleReconnect()
    }
  }

  private onMalformed(reason: string): void {
    this.malformedEventLines++
    // Once per agent: a stream that sends many would fill the log; the count goes on.
    if (this.malformedEventLines === 1) this.options.logger.warn({ reason }, 'Docker sent an event line DTMA cannot read: skipped (the periodic resync covers it; further ones are counted, not logged)')
  }

  private async periodicResync(): Promise<void> {
    try {
      await this.options.resync()
    } catch (error) {
      this.options.logger.warn({ err: error }, 'periodic resync failed')
    }
  }

  private disconnect(error: Error): void {
    if (this.stopped) return
    this.available = false
    this.subscription?.close()
    this.subscription = undefined
    clearInterval(this.resyncTimer)
    this.noteOutage(error)
    this.scheduleReconnect()
  }

  private noteOutage(error: Error): void {
    this.available = false
    this.lastError = error.message
    this.outage.failed({ err: error })
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== undefined) return
    const delay = this.backoffMs
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 10_000)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      void this.connect()
    }, delay)
    this.reconnectTimer.unref()
  }
}
