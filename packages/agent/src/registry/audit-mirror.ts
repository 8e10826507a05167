// Mirrors the audit trail into the registry's dtma_mcp_audit table through
// the `registry` function: the rows not sent yet (of instances Agentopia
// knows), oldest first, in batches of up to MAX_AUDIT_BATCH, one request a
// batch, sent a moment after a call (so a burst of calls is one request),
// never one request per call. While the registry fails, rows wait in the
// store (bounded by the trail's own limits) and the sender backs off; a
// batch the registry refuses as such (400/403) is dropped and logged.
import { MAX_AUDIT_BATCH, type AuditRecord } from '@dtma/contract'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { AuditApi } from '../audit/audit-api.ts'
import type { AuditLog } from '../audit/audit-log.ts'
import type { Metrics } from '../metrics/metrics.ts'
import { OutageLog } from '../outage-log.ts'
import { RegistryWriteError, SupabaseRegistryTarget } from './supabase-target.ts'

/** A call's row goes this long after it, with every call meanwhile. */
const BATCH_DELAY_MS = 1000
const WRITE_TIMEOUT_MS = 10_000

export interface AuditTarget {
  audit(rows: AuditRecord[]): Promise<void>
}

export interface AuditMirrorOptions {
  log: Pick<AuditLog, 'unsent' | 'markSent'>
  trail: Pick<AuditApi, 'onRecord'>
  target: AuditTarget
  logger: Logger
  metrics: Metrics
  /** How long after a call its batch goes (calls meanwhile join it). */
  batchDelayMs: number
  retryMaxMs: number
}

export class AuditMirror {
  private timer: NodeJS.Timeout | undefined
  private sending: Promise<void> | undefined
  private retryMs = 0
  private closed = false
  private unsubscribe: (() => void) | undefined
  private readonly outage: OutageLog
  private readonly batches

  constructor(private readonly options: AuditMirrorOptions) {
    const logger = options.logger.child({ module: 'audit-mirror' })
    this.outage = new OutageLog(logger, { down: 'registry unreachable: audit rows wait in the store and are retried', up: 'registry reachable again: audit rows catching up' })
    this.batches = options.metrics.counter({ name: 'registry_audit_batches_total', help: 'Audit batches sent to the registry function, by outcome', labelNames: ['outcome'] as const })
  }

  start(): void {
    this.unsubscribe = this.options.trail.onRecord(() => this.later(this.options.batchDelayMs))
    this.later(0)
  }

  async close(): Promise<void> {
    this.closed = true
    this.unsubscribe?.()
    clearTimeout(this.timer)
    await this.sending
    if (!this.outage.ongoing) await this.send()
  }

  private later(delayMs: number): void {
    if (this.timer !== undefined || this.closed) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.sending !== undefined) return this.later(this.options.batchDelayMs)
      this.sending = this.send().finally(() => (this.sending = undefined))
    }, delayMs)
    this.timer.unref()
  }

  private async send(): Promise<void> {
    for (let batch = this.options.log.unsent(MAX_AUDIT_BATCH); batch.length > 0; batch = this.options.log.unsent(MAX_AUDIT_BATCH)) {
      const last = batch[batch.length - 1]?.seq as number
      try {
        await this.options.target.audit(batch.map((row) => row.record))
        this.options.log.markSent(last)
        this.batches.inc({ outcome: 'ok' })
        this.retryMs = 0
        if (this.outage.ongoing) this.outage.recovered({})
      } catch (error) {
        if (error instanceof RegistryWriteError && !error.transient) {
          this.options.log.markSent(last)
          this.batches.inc({ outcome: 'refused' })
          this.options.logger.warn({ rows: batch.length, err: { message: error.message } }, 'registry refused an audit batch; dropped')
          continue
        }
        this.batches.inc({ outcome: 'failed' })
        this.outage.failed({ err: { message: (error as Error).message } })
        this.retryMs = Math.min(this.options.retryMaxMs, Math.max(1000, this.retryMs * 2))
        this.later(this.retryMs)
        return
      }
    }
  }
}

/** The mirror of this agent's audit trail, when the registry is configured (registryFromConfig says why when not). */
export function auditMirrorFromConfig(deps: { config: Config; log: AuditMirrorOptions['log']; trail: AuditMirrorOptions['trail']; logger: Logger; metrics: Metrics }): AuditMirror | undefined {
  const settings = deps.config.registry
  const token = deps.config.vmToken
  if (settings === undefined || token === undefined) return undefined
  return new AuditMirror({
    log: deps.log,
    trail: deps.trail,
    target: new SupabaseRegistryTarget({ url: settings.supabaseUrl, token, ...(settings.anonKey !== undefined && { anonKey: settings.anonKey }), timeoutMs: WRITE_TIMEOUT_MS }),
    logger: deps.logger,
    metrics: deps.metrics,
    batchDelayMs: BATCH_DELAY_MS,
    retryMaxMs: settings.retryMaxMs
  })
}
