// Keeps dtma_container_registry in step with the agent: every instance change
// is written to the durable outbox at once (the API never waits on Supabase),
// a full sync follows the first reconcile (catching changes a crash cut off
// and removals made while the agent was down; a row the registry already has,
// as delivered before the restart, is not sent again), and one sender drains
// the outbox in order. While Supabase fails, the sender backs off (doubling,
// with jitter, or the Retry-After of a 429 or 503 when that is longer) and
// logs once per outage; rows catch up when it returns.
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { InstanceChange } from '../instances/views.ts'
import type { Metrics } from '../metrics/metrics.ts'
import { OutageLog } from '../outage-log.ts'
import { afterRetryAfter } from '../pacing.ts'
import { RegistryOutbox, type OutboxEntry } from './outbox.ts'
import { registryRow } from './registry-row.ts'
import { RegistryWriteError, SupabaseRegistryTarget, type RegistryTarget } from './supabase-target.ts'

const FIRST_RETRY_MS = 500
/** One registry request; a hung Supabase must not stall the sender. */
const WRITE_TIMEOUT_MS = 10_000

export interface RegistrySyncOptions {
  instances: InstanceApi
  outbox: RegistryOutbox
  target: RegistryTarget
  logger: Logger
  metrics: Metrics
  environmentId?: string
  retryMaxMs: number
  /** Random numbers in [0, 1) for the jitter; tests pin them. */
  random?: () => number
}

export class RegistrySync {
  private readonly options: RegistrySyncOptions
  private readonly logger: Logger
  private unsubscribe: (() => void) | undefined
  private sending: Promise<void> | undefined
  private retryTimer: NodeJS.Timeout | undefined
  private retryDelayMs = 0
  private readonly outage: OutageLog
  private closed = false
  private readonly writes

  constructor(options: RegistrySyncOptions) {
    this.options = options
    this.logger = options.logger.child({ module: 'registry' })
    this.outage = new OutageLog(this.logger, { down: 'registry unreachable: changes wait in the outbox and are retried', up: 'registry reachable again: catching up' })
    this.writes = options.metrics.counter({ name: 'registry_writes_total', help: 'Registry writes through the registry function, by operation and outcome', labelNames: ['operation', 'outcome'] as const })
    options.metrics.gauge({
      name: 'registry_outbox_pending',
      help: 'Registry changes waiting in the outbox',
      collect() {
        this.set(options.outbox.pending())
      }
    })
  }

  /** Follows instance changes now; the full sync and sending start after the first reconcile. */
  start(): void {
    this.unsubscribe = this.options.instances.onChange((change) => this.record(change))
    void this.options.instances.whenReady().then(() => {
      if (this.closed) return
      this.fullSync()
      this.kick()
    })
  }

  /** Stops following changes and sends what is pending unless Supabase is failing (it stays in the outbox). */
  async close(): Promise<void> {
    this.closed = true
    this.unsubscribe?.()
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    await this.sending
    if (!this.outage.ongoing && this.options.outbox.pending() > 0) await this.send()
    this.options.outbox.close()
  }

  /** `unlessDelivered`: the full sync's rows are skipped when the registry has them as they are. */
  private record({ instanceName, view }: InstanceChange, unlessDelivered = false): void {
    if (view === undefined) {
      this.options.outbox.remove(instanceName)
    } else if (view.accountToolInstanceId !== '') {
      const row = registryRow(view, this.options.environmentId, new Date())
      if (!(unlessDelivered && this.options.outbox.delivered(instanceName, row))) this.options.outbox.upsert(instanceName, row)
    }
    this.kick()
  }

  /** Every instance as it is now; every mirrored name that no longer exists is removed. */
  private fullSync(): void {
    const current = this.options.instances.snapshot()
    const names = new Set(current.map((change) => change.instanceName))
    for (const name of this.options.outbox.mirroredNames()) if (!names.has(name)) this.options.outbox.remove(name)
    for (const change of current) this.record(change, true)
    this.logger.info({ instances: current.length, pending: this.options.outbox.pending() }, 'registry full sync queued')
  }

  /** Starts the sender unless it runs or waits for a retry (new changes never cut a backoff short). */
  private kick(): void {
    if (this.sending !== undefined || this.retryTimer !== undefined || this.closed) return
    this.sending = this.send().finally(() => {
      this.sending = undefined
      // A change recorded after the sender found the outbox empty, before this ran, is sent now.
      if (!this.closed && this.retryTimer === undefined && this.options.outbox.pending() > 0) this.kick()
    })
  }

  private async send(): Promise<void> {
    for (let entry = this.options.outbox.next(); entry !== undefined; entry = this.options.outbox.next()) {
      try {
        await this.write(entry)
        this.options.outbox.settle(entry)
        this.writes.inc({ operation: entry.operation, outcome: 'ok' })
        this.recovered()
      } catch (error) {
        if (error instanceof RegistryWriteError && !error.transient) {
          // The row itself is refused: retrying cannot help, and it must not block the others.
          this.options.outbox.settle(entry, false)
          this.writes.inc({ operation: entry.operation, outcome: 'refused' })
          this.logger.warn({ accountToolInstanceId: entry.accountToolInstanceId, operation: entry.operation, err: error }, 'registry refused a row; dropped')
          continue
        }
        this.options.outbox.retryLater(entry)
        this.writes.inc({ operation: entry.operation, outcome: 'failed' })
        this.failed(error as Error)
        return
      }
    }
  }

  private write(entry: OutboxEntry): Promise<void> {
    return entry.operation === 'upsert' ? this.options.target.upsert(entry.row) : this.options.target.delete(entry.accountToolInstanceId)
  }

  private failed(error: Error): void {
    this.outage.failed({ err: { message: error.message }, pending: this.options.outbox.pending() })
    if (this.closed) return
    this.retryDelayMs = Math.min(this.options.retryMaxMs, Math.max(FIRST_RETRY_MS, this.retryDelayMs * 2))
    const random = this.options.random ?? Math.random
    const backoff = Math.round(this.retryDelayMs * (0.8 + random() * 0.4))
    const asked = error instanceof RegistryWriteError ? error.retryAfterMs : undefined
    const delay = asked === undefined ? backoff : Math.max(backoff, afterRetryAfter(asked, random))
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.kick()
    }, delay)
    this.retryTimer.unref()
  }

  private recovered(): void {
    this.retryDelayMs = 0
    // Checked first: counting the outbox on every successful write is waste.
    if (this.outage.ongoing) this.outage.recovered({ pending: this.options.outbox.pending() })
  }
}

/** The registry of this agent, or undefined (logged once) when Supabase is not configured. */
export function registryFromConfig(deps: { config: Config; storePath: string; instances: InstanceApi; logger: Logger; metrics: Metrics }): RegistrySync | undefined {
  const settings = deps.config.registry
  if (settings === undefined) {
    deps.logger.info('registry off: SUPABASE_URL is not set (nor given by enrolment)')
    return undefined
  }
  const token = deps.config.vmToken
  if (token === undefined) {
    deps.logger.warn('registry off: the registry function needs this toolbox\'s own token (DTMA_BEARER_TOKEN, or enrol with DTMA_ENROLMENT_TOKEN)')
    return undefined
  }
  return new RegistrySync({
    instances: deps.instances,
    outbox: new RegistryOutbox(deps.storePath),
    target: new SupabaseRegistryTarget({ url: settings.supabaseUrl, token, ...(settings.anonKey !== undefined && { anonKey: settings.anonKey }), timeoutMs: WRITE_TIMEOUT_MS }),
    logger: deps.logger,
    metrics: deps.metrics,
    ...(settings.environmentId !== undefined && { environmentId: settings.environmentId }),
    retryMaxMs: settings.retryMaxMs
  })
}
