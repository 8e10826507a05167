// A loopback stand-in for the Supabase APIs that DTMA's edge functions and
// Agentopia's frontend reach through supabase-js: Auth `GET /auth/v1/user`,
// the PostgREST subset (select with eq filters, insert, update, delete)
// backed by in-memory tables, and the functions gateway `/functions/v1/{name}`
// that hands requests to the functions under test. It checks the wire format
// supabase-js really sends (method, path, query syntax, apikey/Authorization/
// Prefer/Accept/profile headers) and the database's rules of
// supabase/tests/fixture.sql (columns, uuid syntax, NOT NULL, defaults, enum
// values, check constraints, foreign keys, uq_account_env_tool, and the row
// rules for signed-in users), answering a broken rule as PostgREST does. It
// records every request and keeps each instance's status history.
// Database functions (POST /rest/v1/rpc/{name}) answer what a test
// registers in `rpcs` (their SQL is tested on real PostgreSQL by the agent's
// tap tests); a registered function that fails answers as PostgREST does,
// PTnnn as HTTP nnn. It does NOT emulate: embedded selects, operators other
// than eq, ordering, ranges other than limit, upserts, or Auth endpoints
// other than /user.

type Row = Record<string, unknown>
export type TableName = 'account_tool_environments' | 'account_tool_instances' | 'tool_catalog'
type Tables = Record<TableName, Row[]>

interface ColumnRules {
  required: readonly string[]
  optional: readonly string[]
  /** uuid columns: any other text is refused, in a filter too */
  uuid: readonly string[]
  defaults?: Readonly<Record<string, () => unknown>>
  enums?: Readonly<Record<string, { type: string; values: readonly string[] }>>
  checks?: Readonly<Record<string, readonly string[]>>
  references?: Readonly<Record<string, TableName>>
  unique?: Readonly<Record<string, readonly string[]>>
  /** What a signed-in user may do here, and on which rows (grants and RLS policies of the fixture). */
  user: { methods: readonly string[]; allows: (row: Row, tables: Tables, userId: string) => boolean }
}

// Copied from supabase/tests/fixture.sql on purpose, not imported from the
// code under test: a wrong value there must be caught here.
const INSTALLATION_STATUS_ENUM = [
  'pending_install', 'installing', 'active', 'error_install', 'pending_uninstall', 'uninstalling', 'uninstalled',
  'error_uninstall', 'pending_config', 'stopped', 'starting', 'stopping', 'error_runtime', 'disabled',
  'pending_deploy', 'deploying', 'running', 'error', 'pending_delete', 'deleting'
]
const ENVIRONMENT_STATUS_ENUM = [
  'inactive', 'pending_creation', 'creating', 'active', 'error_creation', 'pending_deletion', 'deleting', 'error_deletion',
  'unresponsive', 'scaling', 'pending_provision', 'provisioning', 'error_provisioning', 'pending_deprovision',
  'deprovisioning', 'deprovisioned', 'error_deprovisioning', 'awaiting_heartbeat'
]
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const now = () => new Date().toISOString()

const SCHEMA: Readonly<Record<TableName, ColumnRules>> = {
  account_tool_environments: {
    required: ['user_id'],
    optional: ['id', 'public_ip_address', 'status', 'dtma_bearer_token', 'dtma_last_known_version', 'dtma_health_details_json', 'last_heartbeat_at',
      'dtma_tls_fingerprint_sha256', 'dtma_tls_certificate_pem'],
    uuid: ['id', 'user_id'],
    defaults: { status: () => 'inactive' },
    enums: { status: { type: 'account_tool_environment_status_enum', values: ENVIRONMENT_STATUS_ENUM } },
    user: { methods: ['GET'], allows: (row, _tables, userId) => row.user_id === userId }
  },
  account_tool_instances: {
    required: ['account_tool_environment_id', 'tool_catalog_id', 'status_on_toolbox'],
    optional: [
      'id', 'instance_name_on_toolbox', 'docker_image_url', 'base_config_override_json', 'last_heartbeat_from_dtma', 'instance_error_message',
      'created_at', 'updated_at', 'mcp_server_type', 'mcp_transport_type', 'mcp_endpoint_path', 'mcp_server_capabilities', 'mcp_discovery_metadata'
    ],
    uuid: ['id', 'account_tool_environment_id', 'tool_catalog_id'],
    defaults: { status_on_toolbox: () => 'pending_install', created_at: now, updated_at: now, mcp_transport_type: () => 'stdio' },
    enums: { status_on_toolbox: { type: 'account_tool_installation_status_enum', values: INSTALLATION_STATUS_ENUM } },
    checks: { mcp_server_type: ['standard_tool', 'mcp_server'], mcp_transport_type: ['stdio', 'http', 'sse'] },
    references: { account_tool_environment_id: 'account_tool_environments', tool_catalog_id: 'tool_catalog' },
    unique: { uq_account_env_tool: ['account_tool_environment_id', 'tool_catalog_id'] },
    user: {
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allows: (row, tables, userId) => tables.account_tool_environments.some((environment) => environment.id === row.account_tool_environment_id && environment.user_id === userId)
    }
  },
  tool_catalog: {
    required: ['name'],
    optional: ['id', 'docker_image_url', 'package_identifier'],
    uuid: ['id'],
    user: { methods: ['GET'], allows: () => true }
  }
}

const isTable = (name: string): name is TableName => name in SCHEMA

/** Who PostgREST runs a request as: the service role, or a signed-in user under RLS. */
type Role = { kind: 'service' } | { kind: 'user'; userId: string }

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

/** A database function as a test plays it: its value, or a PostgREST error (code, message). */
export type RpcHandler = (args: Record<string, unknown>) => unknown

export class RpcFailure extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
  }
}

export interface StandInOptions {
  serviceRoleKey: string
  /** The publishable (anon) key a browser client sends as apikey. */
  anonKey: string
  /** user JWT -> user id, as Supabase Auth would resolve it */
  users: Record<string, string>
}

class PostgrestFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: string | null = null) {
    super(message)
  }
}

export class SupabaseStandIn {
  readonly tables: Tables = { account_tool_environments: [], account_tool_instances: [], tool_catalog: [] }
  readonly requests: RecordedRequest[] = []
  readonly functionRequests: FunctionRequest[] = []
  /** Functions served at /functions/v1/{name}; a test registers the ones it calls. */
  readonly functions = new Map<string, FunctionHandler>()
  /** Database functions served at /rest/v1/rpc/{name}, for the service role only. */
  readonly rpcs = new Map<string, RpcHandler>()
  /** Wire-format problems: a test asserts this stays empty. */
  readonly violations: string[] = []
  /** Every value written to status_on_toolbox, per instance id, in order. */
  readonly statusHistory = new Map<string, string[]>()
  #server: Deno.HttpServer<Deno.NetAddr> | undefined

  constructor(private readonly options: StandInOptions) {}

  get url(): string {
    if (!this.#server) throw new Error('stand-in not started')
    return `http://127.0.0.1:${this.#server.addr.port}`
  }

  start(): this {
    this.#server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, (request) => this.#handle(request))
    return this
  }

  async close(): Promise<void> {
    await this.#server?.shutdown()
  }

  /** Seed a row directly, as a migration or another service would (defaults applied, rules not checked). */
  seed(table: TableName, row: Row): Row {
    const rules = SCHEMA[table]
    const full: Row = { id: crypto.randomUUID() }
    for (const column of [...rules.required, ...rules.optional]) if (column !== 'id') full[column] = rules.defaults?.[column]?.() ?? null
    Object.assign(full, row)
    this.tables[table].push(full)
    this.#noteStatus(table, full)
    return full
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
    const rpc = /^\/rest\/v1\/rpc\/([a-z_]+)$/.exec(url.pathname)
    if (rpc) return this.#rpc(request, rpc[1] as string, body, apikey === this.options.serviceRoleKey && bearer === this.options.serviceRoleKey)
    const match = /^\/rest\/v1\/([a-z_]+)$/.exec(url.pathname)
    if (!match) return this.#fail(`unexpected ${request.method} ${url.pathname}`, 404, 'PGRST000', 'Not found')
    let role: Role
    if (apikey === this.options.serviceRoleKey && bearer === this.options.serviceRoleKey) role = { kind: 'service' }
    else if (apikey === this.options.anonKey && userId !== undefined) role = { kind: 'user', userId }
    else return this.#fail(`${request.method} ${url.pathname} with a key and JWT that do not go together`, 401, 'PGRST301', 'JWT invalid')
    try {
      return this.#rest(request, match[1] as string, url, body, role)
    } catch (error) {
      if (error instanceof PostgrestFailure) return this.#error(error)
      throw error
    }
  }

  async #function(request: Request, url: URL, name: string): Promise<Response> {
    const body = await request.text()
    this.functionRequests.push({ method: request.method, path: url.pathname, headers: Object.fromEntries(request.headers), body })
    const handler = this.functions.get(name)
    if (!handler) return Response.json({ code: 'NOT_FOUND', message: 'Requested function was not found' }, { status: 404 })
    return await handler(new Request(request.url, { method: request.method, headers: request.headers, ...(body !== '' ? { body } : {}) }))
  }

  #rpc(request: Request, name: string, body: unknown, service: boolean): Response {
    if (request.method !== 'POST') this.violations.push(`${request.method} /rest/v1/rpc/${name}: supabase-js calls functions with POST`)
    if (request.headers.get('content-type') !== 'application/json') this.violations.push(`rpc ${name} with content-type ${request.headers.get('content-type')}`)
    if (!service) return this.#error(new PostgrestFailure(401, '42501', `permission denied for function ${name}`))
    const handler = this.rpcs.get(name)
    if (!handler) return this.#fail(`unknown function ${name}`, 404, 'PGRST202', `Could not find the function public.${name} in the schema cache`)
    try {
      const value = handler((body ?? {}) as Record<string, unknown>)
      return value === undefined ? new Response(null, { status: 204 }) : Response.json(value)
    } catch (error) {
      if (!(error instanceof RpcFailure)) throw error
      const status = Number(/^PT([45]\d\d)$/.exec(error.code)?.[1] ?? (error.code.startsWith('23') ? 409 : 400))
      return this.#error(new PostgrestFailure(status, error.code, error.message))
    }
  }

  #user(userId: string | undefined): Response {
    if (userId === undefined) return Response.json({ code: 403, error_code: 'bad_jwt', msg: 'invalid JWT: unable to parse or verify signature' }, { status: 403 })
    return Response.json({ id: userId, aud: 'authenticated', role: 'authenticated', email: `${userId}@example.test`, app_metadata: {}, user_metadata: {}, created_at: new Date(0).toISOString() })
  }

  #rest(request: Request, tableName: string, url: URL, body: unknown, role: Role): Response {
    if (!isTable(tableName)) throw new PostgrestFailure(404, 'PGRST205', `Could not find the table 'public.${tableName}' in the schema cache`)
    const table = tableName
    const rules = SCHEMA[table]
    if (role.kind === 'user' && !rules.user.methods.includes(request.method)) {
      throw new PostgrestFailure(403, '42501', `permission denied for table ${table}`)
    }
    const profileHeader = ['GET', 'HEAD'].includes(request.method) ? 'accept-profile' : 'content-profile'
    const profile = request.headers.get(profileHeader)
    if (profile !== null && profile !== 'public') this.violations.push(`${profileHeader}: ${profile}`)
    const { filters, select, limit } = this.#parseQuery(table, url, request.method)
    const prefer = request.headers.get('prefer') ?? ''
    const wantsRows = request.method === 'GET' || prefer.split(',').includes('return=representation')
    const single = (request.headers.get('accept') ?? '').startsWith('application/vnd.pgrst.object+json')
    if (request.method !== 'GET' && request.method !== 'DELETE' && request.headers.get('content-type') !== 'application/json') {
      this.violations.push(`${request.method} ${url.pathname} with content-type ${request.headers.get('content-type')}`)
    }
    if (select !== undefined && !wantsRows) this.violations.push(`${request.method} ${url.pathname}: select without Prefer return=representation`)

    // Row-level security: a user sees (and so can change) only rows they own.
    const visible = (row: Row) => role.kind === 'service' || rules.user.allows(row, this.tables, role.userId)
    const matching = (row: Row) => visible(row) && filters.every(([column, value]) => row[column] !== undefined && row[column] !== null && String(row[column]) === value)
    let rows: Row[]
    let status = 200
    switch (request.method) {
      case 'GET':
        rows = this.tables[table].filter(matching).slice(0, limit)
        break
      case 'POST': {
        if (filters.length > 0) this.violations.push(`POST ${url.pathname} with filters`)
        const inserted = (Array.isArray(body) ? body : [body]).map((value) => this.#checkedInsert(table, value))
        for (const row of inserted) {
          if (!visible(row)) throw new PostgrestFailure(403, '42501', `new row violates row-level security policy for table "${table}"`)
          this.#checkUnique(table, row, this.tables[table])
        }
        this.tables[table].push(...inserted)
        for (const row of inserted) this.#noteStatus(table, row)
        rows = inserted
        status = 201
        break
      }
      case 'PATCH': {
        if (filters.length === 0) this.violations.push(`PATCH ${url.pathname} without a filter (would update every row)`)
        const patch = this.#checkedColumns(table, body)
        rows = this.tables[table].filter(matching)
        const others = this.tables[table].filter((row) => !rows.includes(row))
        for (const row of rows) this.#checkUnique(table, { ...row, ...patch }, others)
        for (const row of rows) {
          Object.assign(row, patch)
          this.#noteStatus(table, row)
        }
        break
      }
      case 'DELETE': {
        if (filters.length === 0) this.violations.push(`DELETE ${url.pathname} without a filter (would delete every row)`)
        rows = this.tables[table].filter(matching)
        this.tables[table] = this.tables[table].filter((row) => !matching(row))
        break
      }
      default:
        throw new PostgrestFailure(405, 'PGRST117', `Unsupported HTTP method: ${request.method}`)
    }
    if (!wantsRows) return new Response(null, { status: 204 })
    const projected = rows.map((row) => this.#project(row, select))
    if (single) {
      if (projected.length !== 1) {
        throw new PostgrestFailure(406, 'PGRST116', `JSON object requested, multiple (or no) rows returned`, `The result contains ${projected.length} rows`)
      }
      return Response.json(projected[0], { status })
    }
    return Response.json(projected, { status })
  }

  #parseQuery(table: TableName, url: URL, method: string): { filters: Array<[string, string]>; select: string[] | undefined; limit: number | undefined } {
    const filters: Array<[string, string]> = []
    let select: string[] | undefined
    let limit: number | undefined
    for (const [key, value] of url.searchParams) {
      if (key === 'select') {
        select = value === '*' ? ['*'] : value.split(',')
        for (const column of select) if (column !== '*') this.#checkColumn(table, column)
        continue
      }
      if (key === 'columns' && method === 'POST') continue
      if (key === 'limit' && method === 'GET' && /^[0-9]+$/.test(value)) {
        limit = Number(value)
        continue
      }
      const match = /^eq\.(.*)$/s.exec(value)
      if (!match) {
        this.violations.push(`unsupported filter ${key}=${value}`)
        throw new PostgrestFailure(400, 'PGRST100', `failed to parse filter (${value})`)
      }
      this.#checkColumn(table, key)
      this.#checkUuid(table, key, match[1])
      filters.push([key, match[1] as string])
    }
    return { filters, select, limit }
  }

  #checkColumn(table: TableName, column: string): void {
    const rules = SCHEMA[table]
    if (!rules.required.includes(column) && !rules.optional.includes(column)) {
      throw new PostgrestFailure(400, '42703', `column ${table}.${column} does not exist`)
    }
  }

  #checkUuid(table: TableName, column: string, value: unknown): void {
    const rules = SCHEMA[table]
    if (rules.uuid.includes(column) && value !== null && !(typeof value === 'string' && UUID.test(value))) {
      throw new PostgrestFailure(400, '22P02', `invalid input syntax for type uuid: "${String(value)}"`)
    }
  }

  #checkedColumns(table: TableName, value: unknown): Row {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PostgrestFailure(400, 'PGRST102', 'Expected a JSON object')
    const rules = SCHEMA[table]
    for (const [column, cell] of Object.entries(value)) {
      if (!rules.required.includes(column) && !rules.optional.includes(column)) {
        throw new PostgrestFailure(400, 'PGRST204', `Could not find the '${column}' column of '${table}' in the schema cache`)
      }
      this.#checkUuid(table, column, cell)
      const enumRule = rules.enums?.[column]
      if (enumRule && !enumRule.values.includes(cell as string)) {
        throw new PostgrestFailure(400, '22P02', `invalid input value for enum ${enumRule.type}: "${String(cell)}"`)
      }
      const allowed = rules.checks?.[column]
      if (allowed && cell !== null && !allowed.includes(cell as string)) {
        throw new PostgrestFailure(400, '23514', `new row for relation "${table}" violates check constraint "${table}_${column}_check"`)
      }
      if (rules.required.includes(column) && cell === null) throw new PostgrestFailure(400, '23502', `null value in column "${column}" violates not-null constraint`)
      const target = rules.references?.[column]
      if (target && !this.tables[target].some((row) => row.id === cell)) {
        throw new PostgrestFailure(409, '23503', `insert or update on table "${table}" violates foreign key constraint "${table}_${column}_fkey"`)
      }
    }
    return value as Row
  }

  #checkedInsert(table: TableName, value: unknown): Row {
    const rules = SCHEMA[table]
    const given = this.#checkedColumns(table, value)
    const row: Row = { id: crypto.randomUUID() }
    for (const column of [...rules.required, ...rules.optional]) {
      if (column !== 'id' && !(column in given)) row[column] = rules.defaults?.[column]?.() ?? null
    }
    Object.assign(row, given)
    for (const column of rules.required) {
      if (row[column] === undefined || row[column] === null) throw new PostgrestFailure(400, '23502', `null value in column "${column}" violates not-null constraint`)
    }
    return row
  }

  #checkUnique(table: TableName, row: Row, others: Row[]): void {
    const rules = SCHEMA[table]
    for (const [constraint, columns] of Object.entries(rules.unique ?? {})) {
      if (others.some((other) => other !== row && columns.every((column) => other[column] === row[column]))) {
        throw new PostgrestFailure(
          409,
          '23505',
          `duplicate key value violates unique constraint "${constraint}"`,
          `Key (${columns.join(', ')})=(${columns.map((column) => String(row[column])).join(', ')}) already exists.`
        )
      }
    }
  }

  #noteStatus(table: TableName, row: Row): void {
    if (table !== 'account_tool_instances') return
    const id = String(row.id)
    const history = this.statusHistory.get(id) ?? []
    if (history.at(-1) !== row.status_on_toolbox) history.push(String(row.status_on_toolbox))
    this.statusHistory.set(id, history)
  }

  #project(row: Row, select: string[] | undefined): Row {
    if (select === undefined || select.includes('*')) return { ...row }
    return Object.fromEntries(select.map((column) => [column, row[column] ?? null]))
  }

  #fail(violation: string, status: number, code: string, message: string): Response {
    this.violations.push(violation)
    return this.#error(new PostgrestFailure(status, code, message))
  }

  #error(failure: PostgrestFailure): Response {
    return Response.json({ code: failure.code, details: failure.details, hint: null, message: failure.message }, { status: failure.status })
  }
}
