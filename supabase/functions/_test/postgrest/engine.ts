// PostgREST's work on one database, for the stand-ins in front of it (the
// Deno tests' supabase-stand-in.ts and the agent's tests'
// postgrest-stand-in.ts): a checked request (wire.ts) becomes a statement
// (sql.ts) run as PostgREST runs it, in a transaction as the request's role
// with its JWT claims in request.jwt.claims, and its rows become PostgREST's
// answer (status, one object or an array); a failure is PostgREST's error
// (errors.ts). Plain TypeScript over a pg-like pool: no Deno or Node API.
import { fromDatabase, PostgrestError, type RequestRole } from './errors.ts'
import { FUNCTION_SIGNATURE_SQL, type FunctionSignature, restStatement, rpcStatement, TABLE_COLUMNS_SQL, takes } from './sql.ts'
import { IDENTIFIER, type RestRequest } from './wire.ts'

export type Row = Record<string, unknown>

interface QueryResult {
  rows: Array<Record<string, unknown>>
  rowCount: number | null
  command: string
  fields: Array<{ name: string }>
}

/** What the engine needs of node-postgres' Pool. */
export interface PoolLike {
  query(text: string, values?: unknown[]): Promise<QueryResult>
  connect(): Promise<{ query(text: string, values?: unknown[]): Promise<QueryResult>; release(): void }>
}

/** The JWT claims PostgREST puts in request.jwt.claims; `role` is the role it switches to. */
export interface Claims {
  role: RequestRole
  sub?: string
  [claim: string]: unknown
}

export class PostgrestEngine {
  readonly #pool: PoolLike
  readonly #columns = new Map<string, string[]>()

  constructor(pool: PoolLike) {
    this.#pool = pool
  }

  /** The table's columns, as PostgREST's schema cache knows them (read once). */
  async tableColumns(table: string): Promise<string[]> {
    let columns = this.#columns.get(table)
    if (columns === undefined) {
      columns = (await this.#pool.query(TABLE_COLUMNS_SQL, [table])).rows.map((row) => String(row.name))
      if (columns.length === 0) throw new PostgrestError(404, 'PGRST205', `Could not find the table 'public.${table}' in the schema cache`)
      this.#columns.set(table, columns)
    }
    return columns
  }

  /** One statement as PostgREST runs it; `keep` sees the row count and says whether to commit. */
  async asRole(claims: Claims, text: string, values: unknown[], keep: (count: number) => boolean = () => true): Promise<{ rows: unknown[]; count: number }> {
    const client = await this.#pool.connect()
    try {
      await client.query('begin')
      await client.query(`set local role ${claims.role}`)
      await client.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)])
      const result = await client.query(text, values)
      const rows = result.rows.map((row) => row.r)
      const count = result.fields.some((field) => field.name === 'r') ? rows.length : (result.rowCount ?? 0)
      await client.query(keep(count) ? 'commit' : 'rollback')
      return { rows, count }
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }

  /** A table request; one object asked for and not exactly one row is 406, and a write of it is undone. */
  async rest(request: RestRequest, body: unknown, claims: Claims): Promise<Response> {
    return await this.#answering(claims.role, async () => {
      const statement = restStatement(request, body, await this.tableColumns(request.table))
      const { rows, count } = await this.asRole(claims, statement.text, statement.values, (n) => !request.single || n === 1)
      if (request.single && count !== 1) {
        throw new PostgrestError(406, 'PGRST116', 'JSON object requested, multiple (or no) rows returned', `The result contains ${count} rows`)
      }
      if (!request.representation) return new Response(null, { status: request.method === 'POST' ? 201 : 204 })
      return Response.json(request.single ? rows[0] : rows, { status: request.method === 'POST' ? 201 : 200 })
    })
  }

  /** POST /rest/v1/rpc/{name}: the overload the arguments name; void answers 204, a set an array, else the value. */
  async rpc(name: string, args: unknown, claims: Claims, violations: string[]): Promise<Response> {
    return await this.#answering(claims.role, async () => {
      if (!IDENTIFIER.test(name) || typeof args !== 'object' || args === null || Array.isArray(args)) {
        violations.push(`rpc ${name} with ${JSON.stringify(args)}`)
        throw new PostgrestError(400, 'PGRST102', 'Empty or invalid json')
      }
      const named = args as Record<string, unknown>
      const overloads = (await this.#pool.query(FUNCTION_SIGNATURE_SQL, [name])).rows as unknown as FunctionSignature[]
      const signature = overloads.find((candidate) => candidate.names.every((arg) => IDENTIFIER.test(arg)) && takes(candidate, named))
      if (signature === undefined) {
        violations.push(`unknown function ${name}`)
        throw new PostgrestError(404, 'PGRST202', `Could not find the function public.${name}(${Object.keys(named).sort().join(', ')}) in the schema cache`)
      }
      const statement = rpcStatement(name, signature, named)
      const { rows } = await this.asRole(claims, statement.text, statement.values)
      return signature.returns === 'void' ? new Response(null, { status: 204 }) : Response.json(rows[0] ?? null)
    })
  }

  /** A request run as the database's owner (no role, no RLS; every constraint holds): seeding and looking, as a test does. */
  async direct(request: Pick<RestRequest, 'method' | 'table'> & Partial<RestRequest>, body?: unknown): Promise<Row[]> {
    const full: RestRequest = { select: ['*'], filters: [], limit: undefined, columns: undefined, onConflict: undefined, resolution: undefined, representation: true, single: false, ...request }
    const statement = restStatement(full, body, await this.tableColumns(full.table))
    return (await this.#pool.query(statement.text, statement.values)).rows.map((row) => row.r as Row)
  }

  async #answering(role: RequestRole, work: () => Promise<Response>): Promise<Response> {
    try {
      return await work()
    } catch (error) {
      return fromDatabase(error, role).toResponse()
    }
  }
}
