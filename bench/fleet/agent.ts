// The agent side of one simulated toolbox, as packages/agent behaves: it
// enrols once with its single-use token, then heartbeats every interval
// (jittered by +-10%; the first one after a start waits a random part of
// the interval, at most 30 s), and mirrors every instance change through
// its outbox: one pending entry per instance (a newer change replaces an
// older unsent one), sent one at a time, oldest first. A 429 or 503 with
// Retry-After is waited out (with up to 50% added, so a crowd told the
// same delay does not come back at once); other failures back off,
// doubling from 0.5 s to 10 s. Nothing is ever dropped but a row the
// function refuses (4xx), which is counted. The durable outbox and what
// was delivered survive a restart; timers and requests in flight do not.
import type { RegistryRequest } from '../../packages/contract/src/index.ts'
import { churn, heartbeatBody, registryRow, type ChurnKind, type SimInstance } from './toolbox.ts'

/** A call through the functions gateway; the request is built only if the gateway admits it (the simulation's CPU). */
export type Call = (fn: 'toolbox-enroll' | 'heartbeat' | 'registry', request: () => Request) => Promise<Response>

export interface AgentTiming {
  intervalMs: number
  /** The first heartbeat after a start waits up to this (the agent: min(interval, 30 s)). */
  startJitterMs: number
}

const FIRST_RETRY_MS = 500
const RETRY_MAX_MS = 10_000
const FUNCTIONS = 'http://functions.bench/functions/v1'

/** Retry-After in ms (seconds or an HTTP date), if the answer has one. */
export function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after')
  if (value === null) return undefined
  const seconds = Number(value)
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now()
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 900_000) : undefined
}

export class SimAgent {
  token: string | undefined
  /** Pending registry entries, keyed by instance: latest wins. */
  readonly outbox = new Map<string, { seq: number; row: RegistryRequest }>()
  /** What the registry last accepted per instance (the check of lost changes reads the database). */
  startedAt = 0
  lastHeartbeatOk = 0
  counters = { heartbeatsOk: 0, heartbeatsShed: 0, heartbeatsFailed: 0, registryOk: 0, registryShed: 0, registryFailed: 0, registryRefused: 0, changes: 0 }
  private seq = 0
  private generation = 0
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined
  private sending = false
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private retryDelayMs = 0

  constructor(
    readonly environmentId: string,
    readonly enrolmentToken: string,
    readonly instances: SimInstance[],
    private readonly call: Call,
    private readonly timing: AgentTiming
  ) {}

  async enrol(): Promise<void> {
    for (;;) {
      const response = await this.call('toolbox-enroll', () => post('toolbox-enroll', { enrolment_token: this.enrolmentToken }))
      if (response.ok) {
        this.token = ((await response.json()) as { dtma_bearer_token: string }).dtma_bearer_token
        return
      }
      const wait = retryAfterMs(response)
      await response.body?.cancel()
      if (wait === undefined) throw new Error(`enrolment failed: HTTP ${response.status}`)
      await sleep(wait * (1 + Math.random() * 0.5))
    }
  }

  /** The agent process starts (again): heartbeats after a jitter, the outbox drains. */
  start(firstBeatInMs = Math.random() * this.timing.startJitterMs): void {
    const generation = ++this.generation
    this.startedAt = Date.now()
    this.heartbeatTimer = setTimeout(() => void this.beat(generation), firstBeatInMs)
    this.kick()
  }

  /** The process dies: timers and answers in flight are lost, the outbox is kept. */
  kill(): void {
    this.generation++
    clearTimeout(this.heartbeatTimer)
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    this.sending = false
    this.retryDelayMs = 0
  }

  /** One instance changes: the outbox gets its row, the next heartbeat its status. */
  change(kind: ChurnKind): void {
    const instance = this.instances[Math.floor(Math.random() * this.instances.length)]!
    churn(instance, kind)
    this.counters.changes++
    this.outbox.set(instance.id, { seq: ++this.seq, row: { operation: 'upsert', row: registryRow(instance, this.environmentId) } })
    this.kick()
  }

  private async beat(generation: number): Promise<void> {
    let delay = this.timing.intervalMs * (0.9 + Math.random() * 0.2)
    const response = await this.call('heartbeat', () => post('heartbeat', heartbeatBody(this.instances), this.token))
    await response.body?.cancel()
    if (generation !== this.generation) return
    if (response.ok) {
      this.counters.heartbeatsOk++
      this.lastHeartbeatOk = Date.now()
    } else {
      const wait = retryAfterMs(response)
      if (wait !== undefined) {
        this.counters.heartbeatsShed++
        delay = Math.max(wait, 1000) * (1 + Math.random() * 0.5)
      } else this.counters.heartbeatsFailed++
    }
    this.heartbeatTimer = setTimeout(() => void this.beat(generation), delay)
  }

  private kick(): void {
    if (this.sending || this.retryTimer !== undefined || this.token === undefined) return
    this.sending = true
    void this.send(this.generation)
  }

  private async send(generation: number): Promise<void> {
    while (generation === this.generation) {
      const next = [...this.outbox].sort((a, b) => a[1].seq - b[1].seq)[0]
      if (next === undefined) break
      const [instanceId, entry] = next
      const response = await this.call('registry', () => post('registry', entry.row, this.token))
      await response.body?.cancel()
      if (generation !== this.generation) return
      if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 401 && response.status !== 429)) {
        if (!response.ok) this.counters.registryRefused++
        else this.counters.registryOk++
        if (this.outbox.get(instanceId)?.seq === entry.seq) this.outbox.delete(instanceId)
        this.retryDelayMs = 0
        continue
      }
      const wait = retryAfterMs(response)
      if (wait !== undefined) this.counters.registryShed++
      else this.counters.registryFailed++
      this.retryDelayMs = Math.min(RETRY_MAX_MS, Math.max(FIRST_RETRY_MS, this.retryDelayMs * 2))
      const delay = Math.max(wait ?? 0, this.retryDelayMs) * (wait !== undefined ? 1 + Math.random() * 0.5 : 0.8 + Math.random() * 0.4)
      this.sending = false
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.kick()
      }, delay)
      return
    }
    this.sending = false
  }
}

function post(fn: string, body: unknown, token?: string): Request {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  return new Request(`${FUNCTIONS}/${fn}`, { method: 'POST', headers, body: JSON.stringify(body) })
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
