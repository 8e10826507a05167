// The backend the simulated fleet calls: the real edge functions' handlers
// (supabase/functions/*/handler.ts) with the service-role supabase-js client
// they use in production, whose PostgREST requests the edge functions' test
// engine executes on the benchmark's PostgreSQL (rest.ts: parameterized SQL
// as the request's role, each in its own transaction, over a pool of
// `poolSize` connections: Supabase's pooler). refresh-status asks each
// toolbox's agent for GET /status: the simulated toolbox answers.
// In front, the functions gateway: at most `concurrency` requests in the
// handlers at once; beyond that it answers 503 with Retry-After, as an
// overloaded edge runtime does. Each handled call's time is recorded per
// function, and each shed call counted.
import pg from 'pg'
import { createServiceClient } from '../../supabase/functions/_shared/env.ts'
import { handleRequest as heartbeat } from '../../supabase/functions/heartbeat/handler.ts'
import { handleRequest as refreshStatus } from '../../supabase/functions/refresh-status/handler.ts'
import { handleRequest as registry } from '../../supabase/functions/registry/handler.ts'
import { handleRequest as enrol } from '../../supabase/functions/toolbox-enroll/handler.ts'
import { restFetch } from './rest.ts'

export type FunctionName = 'toolbox-enroll' | 'heartbeat' | 'registry' | 'refresh-status'

export interface BackendOptions {
  poolSize: number
  concurrency: number
  /** Seconds a shed caller is told to wait. */
  retryAfterS: number
}

const SERVICE_ROLE_KEY = 'bench-service-role-key'
const ANON_KEY = 'bench-anon-key'
const PROJECT = 'http://supabase.bench'

/** GET /status of a toolbox's agent, by the toolbox's address: the simulation answers for it. */
export type AgentFetch = typeof fetch

export class Backend {
  readonly latencies = new Map<FunctionName, number[]>()
  readonly shed = new Map<FunctionName, number>()
  readonly statuses = new Map<string, number>()
  inFlight = 0
  private constructor(
    readonly pool: pg.Pool,
    readonly violations: string[],
    private readonly handlers: Record<FunctionName, (request: Request) => Promise<Response>>,
    private readonly options: BackendOptions
  ) {}

  static async start(databaseUrl: string, options: BackendOptions, agentFetch: AgentFetch): Promise<Backend> {
    const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolSize, idleTimeoutMillis: 0 })
    const rest = restFetch(pool, { serviceRoleKey: SERVICE_ROLE_KEY, anonKey: ANON_KEY })
    const db = createServiceClient(PROJECT, SERVICE_ROLE_KEY, rest.fetch)
    const settings = { backendApiKeySha256: null, functionsUrl: `${PROJECT}/functions/v1`, supabaseUrl: PROJECT, anonKey: ANON_KEY }
    const agent = { token: 'bench-backend-key', port: 30000, fetch: agentFetch }
    return new Backend(pool, rest.violations, {
      'toolbox-enroll': (request) => enrol(request, { db, settings }),
      heartbeat: (request) => heartbeat(request, { db }),
      registry: (request) => registry(request, { db }),
      'refresh-status': (request) => refreshStatus(request, { db, agent })
    }, options)
  }

  /** One call through the gateway; `request` is built only when the call is admitted. */
  async call(fn: FunctionName, request: () => Request): Promise<Response> {
    if (this.inFlight >= this.options.concurrency) {
      this.shed.set(fn, (this.shed.get(fn) ?? 0) + 1)
      return new Response(JSON.stringify({ success: false, error: 'busy, retry later', code: 'DTMA_BUSY' }), {
        status: 503,
        headers: { 'content-type': 'application/json', 'retry-after': String(this.options.retryAfterS) }
      })
    }
    this.inFlight++
    const started = performance.now()
    try {
      const response = await this.handlers[fn](request())
      // The request ends when the caller has the answer's body.
      const body = await response.arrayBuffer()
      this.record(fn, performance.now() - started, response.status)
      return new Response(body.byteLength === 0 ? null : body, { status: response.status, headers: response.headers })
    } finally {
      this.inFlight--
    }
  }

  record(fn: FunctionName, ms: number, status: number): void {
    let list = this.latencies.get(fn)
    if (list === undefined) this.latencies.set(fn, (list = []))
    list.push(ms)
    const key = `${fn} ${status}`
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1)
  }

  /** Starts a new measuring window. */
  reset(): void {
    this.latencies.clear()
    this.shed.clear()
    this.statuses.clear()
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}
