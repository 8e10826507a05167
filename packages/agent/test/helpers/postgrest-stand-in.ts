// A loopback stand-in for Supabase's REST API (PostgREST) in front of a REAL
// PostgreSQL: it records every request supabase-js sends (method, path, query,
// Prefer, apikey, Authorization, body) and applies it as PostgREST would, as
// the service_role, so a test checks the wire format AND what it means in SQL.
// Covers what DTMA sends: upsert (POST with on_conflict and
// resolution=merge-duplicates), plain insert, delete and select with eq
// filters (select=, limit=), and calls of database functions (POST
// /rest/v1/rpc/{name} with the arguments as a JSON object, answered as
// PostgREST does: 204 for void, the rows of a set, the value otherwise;
// SQLSTATE PTnnn answers HTTP nnn).
// It can go down (connections refused) and come back on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type pg from 'pg'

export interface RecordedRestRequest {
  method: string
  path: string
  query: Record<string, string>
  prefer: string | null
  apikey: string | null
  authorization: string | null
  body: unknown
  status: number
}

/** SQLSTATE -> the HTTP status PostgREST answers with. */
const STATUS_OF: Record<string, number> = { '23505': 409, '23503': 409, '23514': 400, '23502': 400, '22P02': 400, '42501': 403, '42P01': 404 }
const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

export class PostgrestStandIn {
  readonly requests: RecordedRestRequest[] = []
  readonly serviceRoleKey: string
  private readonly pool: pg.Pool
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(pool: pg.Pool, serviceRoleKey: string) {
    this.pool = pool
    this.serviceRoleKey = serviceRoleKey
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async up(): Promise<void> {
    const server = createServer((request, response) => void this.handle(request, response))
    server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    const address = server.address()
    this.port = typeof address === 'object' && address ? address.port : 0
    this.server = server
  }

  /** Refuses connections from now on (kept sockets are cut too). */
  async down(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://stand-in')
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const recorded: RecordedRestRequest = {
      method: request.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      prefer: header(request, 'prefer'),
      apikey: header(request, 'apikey'),
      authorization: header(request, 'authorization'),
      body: text === '' ? undefined : JSON.parse(text),
      status: 0
    }
    this.requests.push(recorded)
    const reply = (status: number, body?: unknown) => {
      recorded.status = status
      response.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' })
      response.end(body === undefined ? undefined : JSON.stringify(body))
    }
    if (recorded.apikey !== this.serviceRoleKey || recorded.authorization !== `Bearer ${this.serviceRoleKey}`) {
      return reply(401, { code: 'PGRST301', message: 'JWT invalid', details: null, hint: null })
    }
    const rpc = /^\/rest\/v1\/rpc\/([a-z_][a-z0-9_]*)$/.exec(url.pathname)?.[1]
    const table = /^\/rest\/v1\/([a-z_][a-z0-9_]*)$/.exec(url.pathname)?.[1]
    if (rpc !== undefined && recorded.method === 'POST') {
      try {
        const answer = await this.call(rpc, (recorded.body ?? {}) as Record<string, unknown>)
        return answer === undefined ? reply(204) : reply(200, answer)
      } catch (error) {
        return this.fail(error, reply)
      }
    }
    if (table === undefined) return reply(404, { code: 'PGRST125', message: 'Invalid path', details: null, hint: null })
    try {
      if (recorded.method === 'POST') {
        await this.insert(table, recorded)
        return reply(201)
      }
      if (recorded.method === 'DELETE') {
        await this.delete(table, recorded)
        return reply(204)
      }
      if (recorded.method === 'GET') return reply(200, await this.select(table, recorded))
      return reply(405, { code: 'PGRST117', message: `Unsupported HTTP method: ${recorded.method}`, details: null, hint: null })
    } catch (error) {
      return this.fail(error, reply)
    }
  }

  private fail(error: unknown, reply: (status: number, body?: unknown) => void): void {
    const { code, message, detail, hint } = error as { code?: string; message: string; detail?: string; hint?: string }
    const custom = /^PT([45]\d\d)$/.exec(code ?? '')?.[1]
    reply(custom !== undefined ? Number(custom) : (STATUS_OF[code ?? ''] ?? 500), { code: code ?? 'PGRST000', message, details: detail ?? null, hint: hint ?? null })
  }

  /** PostgREST's rpc: named arguments from the JSON object, each cast to its parameter's type. */
  private async call(name: string, args: Record<string, unknown>): Promise<unknown> {
    const found = await this.pool.query<{ names: string[] | null; modes: string[] | null; types: string[]; returns: string; set: boolean }>(
      `select p.proargnames as names, p.proargmodes::text[] as modes, array(select format_type(t, null) from unnest(p.proargtypes) t) as types,
              format_type(p.prorettype, null) as returns, p.proretset as set
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' and p.proname = $1`,
      [name]
    )
    const fn = found.rows[0]
    if (fn === undefined) throw Object.assign(new Error(`Could not find the function public.${name} in the schema cache`), { code: 'PGRST202' })
    // The parameters a caller names: OUT columns of a table function are not arguments.
    const names = (fn.names ?? []).filter((_, i) => fn.modes === null || ['i', 'b', 'v'].includes(fn.modes[i] as string))
    for (const key of Object.keys(args)) if (!names.includes(key)) throw Object.assign(new Error(`Could not find the function public.${name}(${Object.keys(args).join(', ')})`), { code: 'PGRST202' })
    const params = names.map((arg, i) => {
      if (!IDENTIFIER.test(arg)) throw new Error(`bad argument ${arg}`)
      const type = fn.types[i] as string
      return `${arg} => ${type === 'jsonb' || type === 'json' ? `($1::jsonb -> '${arg}')::${type}` : `($1::jsonb ->> '${arg}')::${type}`}`
    })
    const call = `public.${name}(${params.join(', ')})`
    if (fn.returns === 'void') {
      await this.asServiceRole(`select ${call}`, [JSON.stringify(args)])
      return undefined
    }
    const rows = await this.asServiceRole(`select coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb) as rows from ${call} r`, [JSON.stringify(args)])
    const result = (rows[0] as { rows: unknown[] }).rows
    if (fn.set) return result
    const first = result[0] as Record<string, unknown> | undefined
    // A scalar function's row is { name: value }: PostgREST answers the value.
    return first !== undefined && Object.keys(first).length === 1 && name in first ? first[name] : first
  }

  /** `select=` columns (or *), `col=eq.value` filters and `limit=`: what the functions' token look-up sends. */
  private async select(table: string, request: RecordedRestRequest): Promise<unknown[]> {
    const { select = '*', limit, ...filters } = request.query
    const columns = select === '*' ? ['*'] : select.split(',').map((column) => column.trim())
    for (const column of columns) if (column !== '*' && !IDENTIFIER.test(column)) throw Object.assign(new Error(`bad column ${column}`), { code: '42703' })
    const where = Object.entries(filters).map(([column, condition], i) => {
      if (!IDENTIFIER.test(column) || !condition.startsWith('eq.')) throw Object.assign(new Error(`unsupported filter ${column}=${condition}`), { code: 'PGRST100' })
      return `${column} = $${i + 1}`
    })
    const values = Object.values(filters).map((condition) => condition.slice(3))
    const bound = limit !== undefined && /^\d+$/.test(limit) ? ` limit ${limit}` : ''
    return this.asServiceRole(`select ${columns.join(', ')} from public.${table}${where.length > 0 ? ` where ${where.join(' and ')}` : ''}${bound}`, values)
  }

  /** PostgREST: the columns are `columns=` or the first row's keys; rows go through json_populate_recordset. */
  private async insert(table: string, request: RecordedRestRequest): Promise<void> {
    const rows = Array.isArray(request.body) ? request.body : [request.body]
    const columns = request.query.columns?.split(',').map((column) => column.replace(/"/g, '')) ?? Object.keys(rows[0] as object)
    const conflict = request.query.on_conflict?.split(',') ?? []
    for (const name of [...columns, ...conflict]) if (!IDENTIFIER.test(name)) throw Object.assign(new Error(`bad column ${name}`), { code: '42703' })
    const resolution = /resolution=(merge-duplicates|ignore-duplicates)/.exec(request.prefer ?? '')?.[1]
    let onConflict = ''
    if (conflict.length > 0 && resolution === 'merge-duplicates') {
      onConflict = ` on conflict (${conflict.join(', ')}) do update set ${columns.map((c) => `${c} = excluded.${c}`).join(', ')}`
    } else if (conflict.length > 0 && resolution === 'ignore-duplicates') {
      onConflict = ` on conflict (${conflict.join(', ')}) do nothing`
    }
    const list = columns.join(', ')
    await this.asServiceRole(`insert into public.${table} (${list}) select ${list} from jsonb_populate_recordset(null::public.${table}, $1::jsonb)${onConflict}`, [JSON.stringify(rows)])
  }

  /** Only `col=eq.value` filters (what the writer sends); a delete without a filter is refused like PostgREST's safeupdate. */
  private async delete(table: string, request: RecordedRestRequest): Promise<void> {
    const filters = Object.entries(request.query).map(([column, condition]) => {
      const value = /^eq\.(.*)$/.exec(condition)?.[1]
      if (!IDENTIFIER.test(column) || value === undefined) throw Object.assign(new Error(`unsupported filter ${column}=${condition}`), { code: 'PGRST100' })
      return { column, value }
    })
    if (filters.length === 0) throw Object.assign(new Error('DELETE requires a WHERE clause'), { code: '21000' })
    await this.asServiceRole(`delete from public.${table} where ${filters.map((f, i) => `${f.column} = $${i + 1}`).join(' and ')}`, filters.map((f) => f.value))
  }

  private async asServiceRole(sql: string, values: unknown[]): Promise<unknown[]> {
    const client = await this.pool.connect()
    try {
      await client.query('begin')
      await client.query('set local role service_role')
      await client.query(`select set_config('request.jwt.claims', '{"role":"service_role"}', true)`)
      const result = await client.query(sql, values)
      await client.query('commit')
      return result.rows
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }
}

function header(request: IncomingMessage, name: string): string | null {
  const value = request.headers[name]
  return typeof value === 'string' ? value : null
}
