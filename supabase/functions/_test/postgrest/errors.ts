// PostgREST's answer to a failed request: the JSON body {code, message,
// details, hint} and the HTTP status its documentation gives for the
// SQLSTATE (https://docs.postgrest.org/en/latest/references/errors.html),
// including the PTnnn codes a database function raises to pick status nnn.
// Plain TypeScript (no Deno or Node API): the agent's tests use it too.

export type RequestRole = 'anon' | 'authenticated' | 'service_role'

export class PostgrestError extends Error {
  readonly status: number
  readonly code: string
  readonly details: string | null
  readonly hint: string | null

  constructor(status: number, code: string, message: string, details: string | null = null, hint: string | null = null) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
    this.hint = hint
  }

  toResponse(): Response {
    return Response.json({ code: this.code, details: this.details, hint: this.hint, message: this.message }, { status: this.status })
  }
}

/** Prefix (or full code) -> HTTP status, first match wins; anything else is 400. */
const STATUS_BY_SQLSTATE: ReadonlyArray<[string, number]> = [
  ['08', 503], ['09', 500], ['0L', 403], ['0P', 403], ['23503', 409], ['23505', 409],
  ['25006', 405], ['25', 500], ['28', 403], ['2D', 500], ['38', 500], ['39', 500], ['3B', 500],
  ['40', 500], ['53400', 500], ['53', 503], ['54', 500], ['55', 500], ['57', 500], ['58', 500], ['F0', 500], ['HV', 500],
  ['P0001', 400], ['P0', 500], ['XX', 500], ['42883', 404], ['42P01', 404], ['42P17', 500]
]

/** The HTTP status PostgREST answers a SQLSTATE with, for a request made as `role`. */
export function statusOf(sqlstate: string, role: RequestRole): number {
  const custom = /^PT([1-5]\d\d)$/.exec(sqlstate)?.[1]
  if (custom !== undefined) return Number(custom)
  // Insufficient privilege: "not signed in" for the anonymous role, "not allowed" otherwise.
  if (sqlstate === '42501') return role === 'anon' ? 401 : 403
  return STATUS_BY_SQLSTATE.find(([prefix]) => sqlstate.startsWith(prefix))?.[1] ?? 400
}

/** A PostgreSQL error (from pg) as PostgREST reports it; anything else is rethrown. */
export function fromDatabase(error: unknown, role: RequestRole): PostgrestError {
  if (error instanceof PostgrestError) return error
  const { code, message, detail, hint } = error as { code?: unknown; message?: unknown; detail?: unknown; hint?: unknown }
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) throw error
  return new PostgrestError(statusOf(code, role), code, String(message), typeof detail === 'string' ? detail : null, typeof hint === 'string' ? hint : null)
}
