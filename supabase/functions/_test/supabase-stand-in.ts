// A loopback stand-in for the Supabase APIs that DTMA's edge functions and
// Agentopia's frontend reach through supabase-js: Auth `GET /auth/v1/user`,
// PostgREST (/rest/v1/{table} and /rest/v1/rpc/{function}) in front of a REAL
// PostgreSQL database of its own (postgrest/database.ts: the fixture and
// every migration), and the functions gateway `/functions/v1/{name}` that
// hands requests to the functions under test.
// It checks the wire format supabase-js really sends (postgrest/wire.ts:
// method, path, query syntax, apikey/Authorization/Prefer/Accept/profile
// headers), has each request run as parameterized SQL (postgrest/sql.ts,
// postgrest/engine.ts: the engine the agent's tests use too) as the role its
// key and JWT name (anon, authenticated with the user's id as `sub`,
// service_role) and answers a failure as PostgREST does (postgrest/errors.ts).
// It holds no rule of any table: columns, types, enums, defaults, checks,
// foreign keys, unique constraints, triggers, grants and row-level security
// are the database's own. It records every request and each instance's
// status history. It does NOT emulate: embedded selects, operators other than
// eq/neq/is/in, ordering, ranges other than limit, or Auth endpoints other
// than /user.
import { StandInDatabase } from './postgrest/database.ts'
import { type Claims, PostgrestEngine, type Row } from './postgrest/engine.ts'
import { fromDatabase, PostgrestError } from './postgrest/errors.ts'
import { parseRest } from './postgrest/wire.ts'

export type { Row }
export type TableName = 'account_tool_environments' | 'account_tool_instances' | 'tool_catalog' | 'dtma_container_registry' | 'dtma_toolbox_enrolments' | 'dtma_mcp_audit'

export interface RecordedRequest {
  method: string
  path: string
  query: Array<[string, string]>
  prefer: string | null
  accept: string | null
  /** The user's id for requests under a user JWT; null for the service role. */
  userId: string | null
  body: unknown
}

/** A request that reached the functions gateway, as the function received it. */
export interface FunctionRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string
}

export type FunctionHandler = (request: Request) => Promise<Response>

export interface StandInOptions {
  serviceRoleKey: string
  /** The publishable (anon) key a browser client sends as apikey. */
  anonKey: string
  /** user JWT -> user id, as Supabase Auth would resolve it */
  users: Record<string, string>
}

export class SupabaseStandIn {
  readonly requests: RecordedRequest[] = []
  readonly functionRequests: FunctionRequest[] = []
  /** Functions served at /functions/v1/{name}; a test registers the ones it calls. */
  readonly functions = new Map<string, FunctionHandler>()
  /** Wire-format problems: a test asserts this stays empty. */
  readonly violations: string[] = []
  #server: Deno.HttpServer<Deno.NetAddr> | undefined
  #database: StandInDatabase | undefined
  #engine: PostgrestEngine | undefined

  constructor(private readonly options: StandInOptions) {}

  get url(): string {
    if (!this.#server) throw new Error('stand-in not started')
    return `http://127.0.0.1:${this.#server.addr.port}`
  }

  get database(): StandInDatabase {
    if (!this.#database) throw new Error('stand-in not started')
    return this.#database
  }

  async start(): Promise<this> {
    this.#database = await StandInDatabase.create()
    this.#engine = new PostgrestEngine(this.#database.pool)
    this.#server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, (request) => this.#handle(request))
    return this
  }

  async close(): Promise<void> {
    await this.#server?.shutdown()
    await this.#database?.drop()
  }

  /** Inserts a row as the database's owner would (no role, no RLS; every constraint holds): the row as stored. */
  async seed(table: TableName, row: Row): Promise<Row> {
    return (await this.#direct({ method: 'POST', table }, row))[0] as Row
  }

  /** The rows of `table` whose columns equal `where`, as stored. */
  rows(table: TableName, where: Row = {}): Promise<Row[]> {
    return this.#direct({ method: 'GET', table, filters: Object.entries(where).map(([column, value]) => ({ column, operator: 'eq', value: String(value) })) })
  }

  /** The row of `table` with this id, or undefined. */
  async row(table: TableName, id: string): Promise<Row | undefined> {
    return (await this.rows(table, { id }))[0]
  }

  /** Changes the row with this id as the database's owner would (the dashboard, another service). */
  async update(table: TableName, id: string, values: Row): Promise<Row | undefined> {
    return (await this.#direct({ method: 'PATCH', table, filters: [{ column: 'id', operator: 'eq', value: id }] }, values))[0]
  }

  /** Every value status_on_toolbox took for this instance, in order (a value kept by an update is not repeated). */
  async statusHistory(id: string): Promise<string[]> {
    const rows = await this.database.query<{ status: string }>('select status from stand_in.status_history where instance_id = $1 order by seq', [id])
    return rows.map((row) => row.status)
  }

  #direct(...request: Parameters<PostgrestEngine['direct']>): Promise<Row[]> {
    if (!this.#engine) throw new Error('stand-in not started')
    return this.#engine.direct(...request)
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const fn = /^\/functions\/v1\/([a-z0-9_-]+)(\/.*)?$/.exec(url.pathname)
    if (fn) return await this.#function(request, url, fn[1] as string)
    const text = await request.text()
    let body: unknown = undefined
    if (text !== '') {
      try {
        body = JSON.parse(text)
      } catch {
        return this.#fail(`body of ${request.method} ${url.pathname} is not JSON`, 400, 'PGRST102', 'Empty or invalid json')
      }
    }
    const bearer = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
    const apikey = request.headers.get('apikey')
    const userId = bearer === undefined ? undefined : this.options.users[bearer]
    this.requests.push({
      method: request.method,
      path: url.pathname,
      query: [...url.searchParams.entries()],
      prefer: request.headers.get('prefer'),
      accept: request.headers.get('accept'),
      userId: apikey === this.options.anonKey ? (userId ?? null) : null,
      body
    })
    if (apikey !== this.options.serviceRoleKey && apikey !== this.options.anonKey) {
      return this.#fail(`${request.method} ${url.pathname} without a known apikey header`, 401, 'PGRST301', 'No API key found in request')
    }
    if (!(request.headers.get('x-client-info') ?? '').startsWith('supabase-js')) {
      this.violations.push(`${request.method} ${url.pathname} without supabase-js x-client-info`)
    }
    if (url.pathname === '/auth/v1/user' && request.method === 'GET') return this.#user(userId)
    // The role PostgREST switches to is the JWT's: the service key, the anon key, or a signed-in user's.
    let claims: Claims
    if (apikey === this.options.serviceRoleKey && bearer === this.options.serviceRoleKey) claims = { role: 'service_role' }
    else if (apikey === this.options.anonKey && userId !== undefined) claims = { role: 'authenticated', sub: userId, aud: 'authenticated' }
    else if (apikey === this.options.anonKey && bearer === this.options.anonKey) claims = { role: 'anon' }
    else return this.#fail(`${request.method} ${url.pathname} with a key and JWT that do not go together`, 401, 'PGRST301', 'JWT invalid')
    const engine = this.#engine as PostgrestEngine
    const rpc = /^\/rest\/v1\/rpc\/([^/]+)$/.exec(url.pathname)?.[1]
    if (rpc !== undefined) {
      if (request.method !== 'POST') this.violations.push(`${request.method} /rest/v1/rpc/${rpc}: supabase-js calls functions with POST`)
      if (request.headers.get('content-type') !== 'application/json') this.violations.push(`rpc ${rpc} with content-type ${request.headers.get('content-type')}`)
      return await engine.rpc(rpc, body ?? {}, claims, this.violations)
    }
    if (!url.pathname.startsWith('/rest/v1/')) return this.#fail(`unexpected ${request.method} ${url.pathname}`, 404, 'PGRST125', 'Invalid path specified in request URL')
    try {
      return await engine.rest(parseRest(request.method, url, request.headers, this.violations), body, claims)
    } catch (error) {
      return fromDatabase(error, claims.role).toResponse()
    }
  }

  async #function(request: Request, url: URL, name: string): Promise<Response> {
    const body = await request.text()
    this.functionRequests.push({ method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers), body })
    const handler = this.functions.get(name)
    if (!handler) return Response.json({ code: 'NOT_FOUND', message: 'Requested function was not found' }, { status: 404 })
    return await handler(new Request(request.url, { method: request.method, headers: request.headers, ...(body !== '' ? { body } : {}) }))
  }

  #user(userId: string | undefined): Response {
    if (userId === undefined) return Response.json({ code: 403, error_code: 'bad_jwt', msg: 'invalid JWT: unable to parse or verify signature' }, { status: 403 })
    return Response.json({ id: userId, aud: 'authenticated', role: 'authenticated', email: `${userId}@example.test`, app_metadata: {}, user_metadata: {}, created_at: new Date(0).toISOString() })
  }

  #fail(violation: string, status: number, code: string, message: string): Response {
    this.violations.push(violation)
    return new PostgrestError(status, code, message).toResponse()
  }
}
