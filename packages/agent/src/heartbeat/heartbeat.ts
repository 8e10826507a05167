// Periodic report to the Agentopia backend: POST ${AGENTOPIA_API_BASE_URL}
// ${DTMA_HEARTBEAT_PATH} with the per-VM bearer token, once after the first
// reconcile (never a status Docker has not confirmed) and a random part of
// the interval (at most 30 s: a fleet restarted at once does not beat in
// step), then every interval +-10%, each with a 15 s deadline. A failure is
// retried at the next tick, or, when the backend answered 429 or 503 with
// Retry-After, after that wait (plus up to half of it); logged once per
// outage, not per tick. Off in OFFLINE_MODE or without a base URL or token.
// The token never reaches a log line.
import type { HeartbeatBody } from '@dtma/contract'
import type { Logger } from 'pino'
import type { Config } from '../config.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { Metrics } from '../metrics/metrics.ts'
import { OutageLog } from '../outage-log.ts'
import type { TlsSource } from '../tls/tls-identity.ts'
import { afterRetryAfter, jitteredInterval, retryAfterMs, startDelay } from '../pacing.ts'
import { heartbeatPayload } from './heartbeat-payload.ts'

const TIMEOUT_MS = 15_000

export interface HeartbeatOptions {
  url: string
  token: string
  intervalMs: number
  timeoutMs?: number
  payload: () => HeartbeatBody
  whenReady: () => Promise<void>
  logger: Logger
  metrics: Metrics
  /** Random numbers in [0, 1) for the jitter; tests pin them. */
  random?: () => number
}

export class Heartbeat {
  private readonly options: HeartbeatOptions
  private readonly logger: Logger
  private timer: NodeJS.Timeout | undefined
  private inFlight: AbortController | undefined
  private readonly outage: OutageLog
  private closed = false
  private readonly sent

  constructor(options: HeartbeatOptions) {
    this.options = options
    this.logger = options.logger.child({ module: 'heartbeat' })
    this.outage = new OutageLog(this.logger, { down: 'heartbeat failing: retried every interval, logged again when it recovers', up: 'heartbeat recovered' })
    this.sent = options.metrics.counter({ name: 'heartbeats_total', help: 'Heartbeats sent to the backend, by outcome', labelNames: ['outcome'] as const })
  }

  start(): void {
    void this.options.whenReady().then(() => {
      if (this.closed) return
      this.timer = setTimeout(() => void this.tick(), startDelay(this.options.intervalMs, this.random))
      this.timer.unref()
    })
  }

  private get random(): () => number {
    return this.options.random ?? Math.random
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    this.inFlight?.abort()
  }

  private async tick(): Promise<void> {
    if (this.closed) return
    const wait = await this.beat()
    if (this.closed) return
    const delay = wait === undefined ? jitteredInterval(this.options.intervalMs, this.random) : afterRetryAfter(wait, this.random)
    this.timer = setTimeout(() => void this.tick(), delay)
    this.timer.unref()
  }

  /** Sends one heartbeat; answers the wait the backend asked for, if it did. */
  private async beat(): Promise<number | undefined> {
    const controller = new AbortController()
    this.inFlight = controller
    const deadline = setTimeout(() => controller.abort(), this.options.timeoutMs ?? TIMEOUT_MS)
    let failure: string | undefined
    let wait: number | undefined
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(this.options.payload()),
        signal: controller.signal
      })
      await response.body?.cancel()
      if (!response.ok) failure = `HTTP ${response.status}`
      wait = retryAfterMs(response.status, response.headers)
    } catch (error) {
      failure = controller.signal.aborted && !this.closed ? 'no answer within the deadline' : (error as Error).message
    } finally {
      clearTimeout(deadline)
      this.inFlight = undefined
    }
    if (this.closed) return undefined
    this.sent.inc({ outcome: failure === undefined ? 'ok' : 'failed' })
    if (failure !== undefined) this.outage.failed({ reason: failure, ...(wait !== undefined && { retryAfterMs: wait }) })
    else this.outage.recovered()
    return wait
  }
}

/** The heartbeat of this agent, or undefined (logged once) when it must not or cannot run. */
export function heartbeatFromConfig(deps: { config: Config; instances: InstanceApi; logger: Logger; metrics: Metrics; tls?: TlsSource }): Heartbeat | undefined {
  const { config, instances } = deps
  const off = config.offlineMode
    ? 'OFFLINE_MODE is set'
    : config.apiBaseUrl === undefined
      ? 'AGENTOPIA_API_BASE_URL is not set'
      : config.vmToken === undefined
        ? 'DTMA_BEARER_TOKEN is not set'
        : undefined
  if (off !== undefined) {
    deps.logger.info(`heartbeat off: ${off}`)
    return undefined
  }
  return new Heartbeat({
    url: `${(config.apiBaseUrl as string).replace(/\/+$/, '')}${config.heartbeat.path}`,
    token: config.vmToken as string,
    intervalMs: config.heartbeat.intervalMs,
    payload: () => heartbeatPayload(config.version, instances.snapshot().flatMap((change) => change.view ?? []), deps.tls?.current()),
    whenReady: () => instances.whenReady(),
    logger: deps.logger,
    metrics: deps.metrics
  })
}
