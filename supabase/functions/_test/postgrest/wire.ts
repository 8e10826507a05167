// What supabase-js sends to PostgREST, read and checked: the table, the
// query syntax subset DTMA and Agentopia's frontend use (select= with plain
// columns, eq/neq/is/in filters, limit=, columns= and on_conflict= on
// inserts), and the headers (Prefer, Accept for one object, Content-Type,
// Accept-/Content-Profile). A request supabase-js would not send is noted in
// `violations` (a test asserts it stays empty) and, where PostgREST would
// refuse it, refused as PostgREST does. Nothing here knows a table's rules:
// the database applies them. Plain TypeScript (no Deno or Node API): the
// agent's tests use it too.
import { PostgrestError } from './errors.ts'

export const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

export type FilterOperator = 'eq' | 'neq' | 'is' | 'in'

export interface Filter {
  column: string
  operator: FilterOperator
  /** eq/neq: the text; is: null, true or false; in: the listed texts */
  value: string | string[] | boolean | null
}

export interface RestRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  table: string
  /** ['*'] when select= is absent or * */
  select: string[]
  filters: Filter[]
  limit: number | undefined
  /** POST: the columns= list, when sent */
  columns: string[] | undefined
  onConflict: string[] | undefined
  resolution: 'merge-duplicates' | 'ignore-duplicates' | undefined
  /** Prefer: return=representation */
  representation: boolean
  /** Accept: application/vnd.pgrst.object+json */
  single: boolean
}

const METHODS = ['GET', 'POST', 'PATCH', 'DELETE'] as const

function refused(violations: string[], violation: string, message: string): PostgrestError {
  violations.push(violation)
  return new PostgrestError(400, 'PGRST100', message)
}

function identifiers(list: string, what: string, violations: string[]): string[] {
  const names = list.split(',').map((name) => name.trim().replace(/^"(.*)"$/, '$1'))
  for (const name of names) if (!IDENTIFIER.test(name)) throw refused(violations, `unsupported ${what} ${list}`, `failed to parse ${what} parameter (${list})`)
  return names
}

function filter(column: string, condition: string, violations: string[]): Filter {
  if (!IDENTIFIER.test(column)) throw refused(violations, `unsupported filter ${column}=${condition}`, `failed to parse filter (${condition})`)
  const match = /^(eq|neq|is|in)\.(.*)$/s.exec(condition)
  if (!match) throw refused(violations, `unsupported filter ${column}=${condition}`, `failed to parse filter (${condition})`)
  const [, operator, text] = match as unknown as [string, FilterOperator, string]
  if (operator === 'is') {
    const value = ({ null: null, true: true, false: false } as Record<string, boolean | null>)[text]
    if (value === undefined) throw refused(violations, `unsupported filter ${column}=${condition}`, `failed to parse filter (${condition})`)
    return { column, operator, value }
  }
  if (operator === 'in') {
    const list = /^\((.*)\)$/s.exec(text)?.[1]
    if (list === undefined) throw refused(violations, `unsupported filter ${column}=${condition}`, `failed to parse filter (${condition})`)
    return { column, operator, value: list === '' ? [] : list.split(',').map((item) => item.replace(/^"(.*)"$/s, '$1')) }
  }
  return { column, operator, value: text }
}

/** The PostgREST request in `url` (a /rest/v1/{table} path), checked as supabase-js sends it. */
export function parseRest(method: string, url: URL, headers: Headers, violations: string[]): RestRequest {
  const table = /^\/rest\/v1\/([^/]+)$/.exec(url.pathname)?.[1] ?? ''
  if (!IDENTIFIER.test(table)) {
    violations.push(`unexpected ${method} ${url.pathname}`)
    throw new PostgrestError(404, 'PGRST125', `Invalid path specified in request URL`)
  }
  if (!(METHODS as readonly string[]).includes(method)) throw new PostgrestError(405, 'PGRST117', `Unsupported HTTP method: ${method}`)
  const verb = method as RestRequest['method']
  const profileHeader = verb === 'GET' ? 'accept-profile' : 'content-profile'
  const profile = headers.get(profileHeader)
  if (profile !== null && profile !== 'public') violations.push(`${profileHeader}: ${profile}`)
  if (verb !== 'GET' && verb !== 'DELETE' && headers.get('content-type') !== 'application/json') {
    violations.push(`${verb} ${url.pathname} with content-type ${headers.get('content-type')}`)
  }
  const prefer = (headers.get('prefer') ?? '').split(',').map((part) => part.trim())
  const request: RestRequest = {
    method: verb,
    table,
    select: ['*'],
    filters: [],
    limit: undefined,
    columns: undefined,
    onConflict: undefined,
    resolution: prefer.includes('resolution=merge-duplicates') ? 'merge-duplicates' : prefer.includes('resolution=ignore-duplicates') ? 'ignore-duplicates' : undefined,
    representation: verb === 'GET' || prefer.includes('return=representation'),
    single: (headers.get('accept') ?? '').startsWith('application/vnd.pgrst.object+json')
  }
  let selected = false
  for (const [key, value] of url.searchParams) {
    if (key === 'select') {
      selected = true
      request.select = value === '*' ? ['*'] : identifiers(value, 'select', violations)
    } else if (key === 'limit' && verb === 'GET' && /^[0-9]+$/.test(value)) {
      request.limit = Number(value)
    } else if (key === 'columns' && verb === 'POST') {
      request.columns = identifiers(value, 'columns', violations)
    } else if (key === 'on_conflict' && verb === 'POST') {
      request.onConflict = identifiers(value, 'on_conflict', violations)
    } else {
      request.filters.push(filter(key, value, violations))
    }
  }
  if (selected && !request.representation) violations.push(`${verb} ${url.pathname}: select without Prefer return=representation`)
  if (verb === 'POST' && request.filters.length > 0) violations.push(`POST ${url.pathname} with filters`)
  if ((verb === 'PATCH' || verb === 'DELETE') && request.filters.length === 0) {
    // Supabase runs PostgREST with pg-safeupdate: a write of every row is refused.
    violations.push(`${verb} ${url.pathname} without a filter (would ${verb === 'PATCH' ? 'update' : 'delete'} every row)`)
    throw new PostgrestError(400, '21000', `${verb === 'PATCH' ? 'UPDATE' : 'DELETE'} requires a WHERE clause`)
  }
  if (request.onConflict !== undefined && request.resolution === undefined) violations.push(`POST ${url.pathname} with on_conflict but no Prefer resolution`)
  return request
}
