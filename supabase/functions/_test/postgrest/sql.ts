// PostgREST's requests as parameterized SQL, the way PostgREST builds them:
// rows in and out as JSON (jsonb_populate_recordset / to_jsonb), filters as
// bound parameters typed by their column, functions called with named
// arguments. Every statement answers its rows in a column `r`. Identifiers
// come checked by wire.ts (and are quoted); values are always parameters.
// Plain TypeScript (no Deno or Node API): the agent's tests use it too.
import { PostgrestError } from './errors.ts'
import type { Filter, RestRequest } from './wire.ts'

export interface Statement {
  text: string
  values: unknown[]
}

/** A database function as PostgREST's schema cache knows it. */
export interface FunctionSignature {
  /** the IN parameters, in order, with their types */
  names: string[]
  types: string[]
  /** how many trailing parameters have defaults */
  defaults: number
  returns: string
  set: boolean
}

/** The schema cache's view of a function: one row per overload of public.{$1}. */
export const FUNCTION_SIGNATURE_SQL = `
  select coalesce(array(select a.name from unnest(coalesce(p.proargnames, array[]::text[]), coalesce(p.proargmodes::text[], array[]::text[]))
                          with ordinality as a(name, mode, i) where a.mode in ('i', 'b', 'v') or p.proargmodes is null order by a.i), array[]::text[]) as names,
         array(select format_type(t, null) from unnest(p.proargtypes) t) as types,
         p.pronargdefaults as defaults, format_type(p.prorettype, null) as returns, p.proretset as set
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'public' and p.proname = $1`

/** The columns of public.{$1}, as PostgREST's schema cache lists them. */
export const TABLE_COLUMNS_SQL = `
  select a.attname as name from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'public' and c.relname = $1 and c.relkind in ('r', 'v', 'p') and a.attnum > 0 and not a.attisdropped order by a.attnum`

const quote = (name: string) => `"${name}"`

function where(filters: Filter[], values: unknown[]): string {
  const conditions = filters.map(({ column, operator, value }) => {
    const target = `_t.${quote(column)}`
    if (operator === 'is') return `${target} is ${value === null ? 'null' : value ? 'true' : 'false'}`
    values.push(value)
    if (operator === 'in') return `${target} = any($${values.length})`
    return `${target} ${operator === 'eq' ? '=' : '<>'} $${values.length}`
  })
  return conditions.length === 0 ? '' : ` where ${conditions.join(' and ')}`
}

function objects(request: RestRequest, body: unknown): Array<Record<string, unknown>> {
  const rows = request.method === 'POST' && Array.isArray(body) ? body : [body]
  for (const row of rows) {
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new PostgrestError(400, 'PGRST102', 'Empty or invalid json')
  }
  return rows as Array<Record<string, unknown>>
}

function known(table: string, names: string[], columns: readonly string[]): string[] {
  for (const name of names) {
    if (!columns.includes(name)) throw new PostgrestError(400, 'PGRST204', `Could not find the '${name}' column of '${table}' in the schema cache`)
  }
  return names
}

/** The request as one statement; `columns` are the table's (from TABLE_COLUMNS_SQL). */
export function restStatement(request: RestRequest, body: unknown, columns: readonly string[]): Statement {
  const table = `public.${quote(request.table)}`
  const values: unknown[] = []
  const selection = (alias: string) => (request.select.includes('*') ? `${alias}.*` : request.select.map((c) => `${alias}.${quote(c)}`).join(', '))
  const rows = (source: string, alias: string) => `select to_jsonb(_s) as r from (select ${selection(alias)} from ${source}) as _s`
  if (request.method === 'GET') {
    const limit = request.limit === undefined ? '' : ` limit ${request.limit}`
    return { text: rows(`${table} as _t${where(request.filters, values)}${limit}`, '_t'), values }
  }
  let write: string
  if (request.method === 'POST') {
    const given = objects(request, body)
    const names = known(request.table, request.columns ?? [...new Set(given.flatMap((row) => Object.keys(row)))], columns).map(quote)
    values.push(JSON.stringify(given))
    const list = names.join(', ')
    let conflict = ''
    if (request.onConflict !== undefined && request.resolution !== undefined) {
      const target = known(request.table, request.onConflict, columns).map(quote).join(', ')
      conflict = request.resolution === 'ignore-duplicates'
        ? ` on conflict (${target}) do nothing`
        : ` on conflict (${target}) do update set ${names.map((name) => `${name} = excluded.${name}`).join(', ')}`
    }
    write = `insert into ${table} as _t (${list}) select ${list} from jsonb_populate_recordset(null::${table}, $1::jsonb)${conflict}`
  } else if (request.method === 'PATCH') {
    const [patch] = objects(request, body) as [Record<string, unknown>]
    const names = known(request.table, Object.keys(patch), columns).map(quote)
    if (names.length === 0) return { text: `select to_jsonb(_t) as r from ${table} as _t where false`, values }
    values.push(JSON.stringify(patch))
    const set = names.map((name) => `${name} = _v.${name}`).join(', ')
    write = `update ${table} as _t set ${set} from jsonb_populate_record(null::${table}, $1::jsonb) as _v${where(request.filters, values)}`
  } else {
    write = `delete from ${table} as _t${where(request.filters, values)}`
  }
  // return=minimal asks for no rows: no RETURNING, so no SELECT privilege or policy is needed, as in PostgREST.
  if (!request.representation) return { text: write, values }
  return { text: `with _w as (${write} returning _t.*) ${rows('_w', '_w')}`, values }
}

/** A call of `name` with the JSON object's members as named arguments, each cast to its parameter's type. */
export function rpcStatement(name: string, signature: FunctionSignature, args: Record<string, unknown>): Statement {
  const call = `public.${quote(name)}(${signature.names
    .filter((arg) => arg in args)
    .map((arg) => {
      const type = signature.types[signature.names.indexOf(arg)] as string
      const literal = type === 'json' || type === 'jsonb' ? `($1::jsonb -> '${arg}')` : `($1::jsonb ->> '${arg}')`
      return `${quote(arg)} => ${literal}::${type}`
    })
    .join(', ')})`
  const values = [JSON.stringify(args)]
  if (signature.returns === 'void') return { text: `select ${call}`, values }
  if (signature.set) return { text: `select coalesce(jsonb_agg(to_jsonb(_r)), '[]'::jsonb) as r from ${call} as _r`, values }
  return { text: `select to_jsonb(_r) as r from ${call} as _r`, values }
}

/** Whether the arguments name this overload: every one a parameter, every parameter without a default given. */
export function takes(signature: FunctionSignature, args: Record<string, unknown>): boolean {
  const required = signature.names.slice(0, signature.names.length - signature.defaults)
  return Object.keys(args).every((arg) => signature.names.includes(arg)) && required.every((arg) => arg in args)
}
