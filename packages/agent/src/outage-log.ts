// What DTMA depends on (Docker, Supabase, the backend's heartbeat) fails in
// outages, and every retry in one fails again. An outage is two log lines
// however many retries it takes: a warning when it starts, and a line with
// its length when the dependency works again.
import type { Logger } from 'pino'

export class OutageLog {
  private since: number | undefined

  constructor(
    private readonly logger: Logger,
    private readonly messages: { down: string; up: string }
  ) {}

  get ongoing(): boolean {
    return this.since !== undefined
  }

  /** A failure: logged when it starts an outage, silent within one. */
  failed(fields: Record<string, unknown>): void {
    if (this.since !== undefined) return
    this.since = Date.now()
    this.logger.warn(fields, this.messages.down)
  }

  /** A success: ends the outage, if there was one, with its length. */
  recovered(fields: Record<string, unknown> = {}): void {
    if (this.since === undefined) return
    this.logger.info({ ...fields, outageMs: Date.now() - this.since }, this.messages.up)
    this.since = undefined
  }
}
