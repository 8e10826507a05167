// A loopback stand-in for the two Supabase APIs the edge functions call
// through supabase-js: Auth `GET /auth/v1/user` and the PostgREST subset
// (select with eq filters, insert, update, delete), backed by in-memory
// tables. It checks the wire format supabase-js really sends (method, path,
// query syntax, apikey/Authorization/Prefer/Accept/profile headers) and the
// database's rules that matter here (columns, NOT NULL, foreign keys, enum
// values), records every request, and keeps each instance's status history.
// It does NOT emulate: RLS, embedded selects, operators other than eq,
// ordering/ranges, upserts, RPC, or Auth endpoints other than /user.

type Row = Record<string, unknown>

interface ColumnRules {
  required: readonly string[]
  optional: readonly string[]
  enums?: Readonly<Record<string, readonly string[]>>
  references?: Readonly<Record<string, string>>
}

// Copied from dtma-contract.md on purpose, not imported from the code under
// test: a wrong value there must be caught here.
const INSTALLATION_STATUS_ENUM = [
  'pending_install', 'installing', 'active', 'error_install', 'pending_uninstall', 'uninstalling', 'uninstalled',
  'error_uninstall', 'pending_config', 'stopped', 'starting', 'stopping', 'error_runtime', 'disabled',
  'pending_deploy', 'deploying', 'running', 'error', 'pending_delete', 'deleting'
]
const ENVIRONMENT_STATUS_ENUM = ['active', 'unresponsive', 'awaiting_heartbeat', 'pending_creation', 'error']

const SCHEMA = {
  account_tool_environments: {
    required: ['user_id'],
    optional: ['id', 'public_ip_address', 'status', 'dtma_bearer_token', 'dtma_last_known_version', 'dtma_health_details_json', 'last_heartbeat_at'],
    enums: { status: ENVIRONMENT_STATUS_ENUM }
  },
  account_tool_instances: {
    required: ['account_tool_environment_id', 'tool_catalog_id', 'instance_name_on_toolbox', 'status_on_toolbox', 'docker_image_url'],
    optional: ['id', 'base_config_override_json', 'last_heartbeat_from_dtma', 'instance_error_message'],
    enums: { status_on_toolbox: INSTALLATION_STATUS_ENUM },
    references: { account_tool_environment_id: 'account_tool_environments', tool_catalog_id: 'tool_catalog' }
  },
  tool_catalog: { required: ['name', 'docker_image_url'], optional: ['id', 'package_identifier'] }
} satisfies Record<string, ColumnRules>

export type TableName = keyof typeof SCHEMA
const isTable = (name: string): name is TableName => name in SCHEMA

export interface RecordedRequest {
  method: string
  path: string
  query: Array<[string, string]>
  prefer: string | null
  accept: string | null
  body: unknown
}

export interface StandInOptions {
  serviceRoleKey: string
  /** user JWT -> user id, as Supabase Auth would resolve it */
  users: Record<string, string>
}

class PostgrestFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

export class SupabaseStandIn {
  readonly tables: Record<TableName, Row[]> = { account_tool_environments: [], account_tool_instances: [], tool_catalog: [] }
  readonly requests: RecordedRequest[] = []
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

  /** Seed a row directly, as a migration or another service would. */
  seed(table: TableName, row: Row): Row {
    const full = { id: crypto.randomUUID(), ...row }
    this.tables[table].push(full)
    return full
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url)
    const text = await request.text()
    let body: unknown = undefined
    if (text !== '') {
      try {
        body = JSON.parse(text)
      } catch {
        return this.#fail(`body of ${request.method} ${url.pathname} is not JSON`, 400, 'PGRST102', 'Empty or invalid json')
      }
    }
    this.requests.push({
      method: request.method,
      path: url.pathname,
      query: [...url.searchParams.entries()],
      prefer: request.headers.get('prefer'),
      accept: request.headers.get('accept'),
      body
    })
    if (request.headers.get('apikey') !== this.options.serviceRoleKey) {
      return this.#fail(`${request.method} ${url.pathname} without the service-role apikey header`, 401, 'PGRST301', 'No API key found in request')
    }
    if (!(request.headers.get('x-client-info') ?? '').startsWith('supabase-js')) {
      this.violations.push(`${request.method} ${url.pathname} without supabase-js x-client-info`)
    }
    if (url.pathname === '/auth/v1/user' && request.method === 'GET') return this.#user(request)
    const match = /^\/rest\/v1\/([a-z_]+)$/.exec(url.pathname)
    if (!match) return this.#fail(`unexpected ${request.method} ${url.pathname}`, 404, 'PGRST000', 'Not found')
    if (request.headers.get('authorization') !== `Bearer ${this.options.serviceRoleKey}`) {
      return this.#fail(`${request.method} ${url.pathname} without the service-role Authorization header`, 401, 'PGRST301', 'JWT invalid')
    }
    try {
      return this.#rest(request, match[1] as string, url, body)
    } catch (error) {
      if (error instanceof PostgrestFailure) return this.#error(error.status, error.code, error.message)
      throw error
    }
  }

  #user(request: Request): Response {
    const token = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
    const userId = token === undefined ? undefined : this.options.users[token]
    if (userId === undefined) return Response.json({ code: 403, error_code: 'bad_jwt', msg: 'invalid JWT: unable to parse or verify signature' }, { status: 403 })
    return Response.json({ id: userId, aud: 'authenticated', role: 'authenticated', email: `${userId}@example.test`, app_metadata: {}, user_metadata: {}, created_at: new Date(0).toISOString() })
  }

  #rest(request: Request, tableName: string, url: URL, body: unknown): Response {
    if (!isTable(tableName)) throw new PostgrestFailure(404, 'PGRST205', `Could not find the table 'public.${tableName}' in the schema cache`)
    const table = tableName
    const profileHeader = ['GET', 'HEAD'].includes(request.method) ? 'accept-profile' : 'content-profile'
    const profile = request.headers.get(profileHeader)
    if (profile !== null && profile !== 'public') this.violations.push(`${profileHeader}: ${profile}`)
    const { filters, select } = this.#parseQuery(table, url, request.method)
    const prefer = request.headers.get('prefer') ?? ''
    const wantsRows = request.method === 'GET' || prefer.split(',').includes('return=representation')
    const single = (request.headers.get('accept') ?? '').startsWith('application/vnd.pgrst.object+json')
    if (request.method !== 'GET' && request.method !== 'DELETE' && request.headers.get('content-type') !== 'application/json') {
      this.violations.push(`${request.method} ${url.pathname} with content-type ${request.headers.get('content-type')}`)
    }
    if (select !== undefined && !wantsRows) this.violations.push(`${request.method} ${url.pathname}: select without Prefer return=representation`)

    const matching = (row: Row) => filters.every(([column, value]) => row[column] !== undefined && String(row[column]) === value)
    let rows: Row[]
    let status = 200
    switch (request.method) {
      case 'GET':
        rows = this.tables[table].filter(matching)
        break
      case 'POST': {
        if (filters.length > 0) this.violations.push(`POST ${url.pathname} with filters`)
        const inserted = (Array.isArray(body) ? body : [body]).map((value) => this.#checkedInsert(table, value))
        this.tables[table].push(...inserted)
        rows = inserted
        status = 201
        break
      }
      case 'PATCH': {
        if (filters.length === 0) this.violations.push(`PATCH ${url.pathname} without a filter (would update every row)`)
        const patch = this.#checkedColumns(table, body)
        rows = this.tables[table].filter(matching)
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
        throw new PostgrestFailure(406, 'PGRST116', `JSON object requested, multiple (or no) rows returned (${projected.length} rows)`)
      }
      return Response.json(projected[0], { status })
    }
    return Response.json(projected, { status })
  }

  #parseQuery(table: TableName, url: URL, method: string): { filters: Array<[string, string]>; select: string[] | undefined } {
    const filters: Array<[string, string]> = []
    let select: string[] | undefined
    for (const [key, value] of url.searchParams) {
      if (key === 'select') {
        select = value === '*' ? ['*'] : value.split(',')
        for (const column of select) if (column !== '*') this.#checkColumn(table, column)
        continue
      }
      if (key === 'columns' && method === 'POST') continue
      const match = /^eq\.(.*)$/s.exec(value)
      if (!match) {
        this.violations.push(`unsupported filter ${key}=${value}`)
        throw new PostgrestFailure(400, 'PGRST100', `failed to parse filter (${value})`)
      }
      this.#checkColumn(table, key)
      filters.push([key, match[1] as string])
    }
    return { filters, select }
  }

  #checkColumn(table: TableName, column: string): void {
    const rules: ColumnRules = SCHEMA[table]
    if (!rules.required.includes(column) && !rules.optional.includes(column)) {
      throw new PostgrestFailure(400, '42703', `column ${table}.${column} does not exist`)
    }
  }

  #checkedColumns(table: TableName, value: unknown): Row {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PostgrestFailure(400, 'PGRST102', 'Expected a JSON object')
    const rules: ColumnRules = SCHEMA[table]
    for (const [column, cell] of Object.entries(value)) {
      if (!rules.required.includes(column) && !rules.optional.includes(column)) {
        throw new PostgrestFailure(400, 'PGRST204', `Could not find the '${column}' column of '${table}' in the schema cache`)
      }
      const allowed = rules.enums?.[column]
      if (allowed && !allowed.includes(cell as string)) {
        throw new PostgrestFailure(400, '22P02', `invalid input value for enum ${column === 'status' ? 'account_tool_environment_status_enum' : 'account_tool_installation_status_enum'}: "${String(cell)}"`)
      }
      if (rules.required.includes(column) && cell === null) throw new PostgrestFailure(400, '23502', `null value in column "${column}" violates not-null constraint`)
      const target = rules.references?.[column]
      if (target && isTable(target) && !this.tables[target].some((row) => row.id === cell)) {
        throw new PostgrestFailure(409, '23503', `insert or update on table "${table}" violates foreign key constraint on ${column}`)
      }
    }
    return value as Row
  }

  #checkedInsert(table: TableName, value: unknown): Row {
    const row: Row = { id: crypto.randomUUID(), ...this.#checkedColumns(table, value) }
    const rules: ColumnRules = SCHEMA[table]
    for (const column of rules.required) {
      if (row[column] === undefined || row[column] === null) throw new PostgrestFailure(400, '23502', `null value in column "${column}" violates not-null constraint`)
    }
    for (const column of rules.optional) if (!(column in row)) row[column] = null
    this.#noteStatus(table, row)
    return row
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
    return this.#error(status, code, message)
  }

  #error(status: number, code: string, message: string): Response {
    return Response.json({ code, details: null, hint: null, message }, { status })
  }
}
