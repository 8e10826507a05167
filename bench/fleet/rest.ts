// The Supabase APIs the functions reach through supabase-js, in process: a
// `fetch` for supabase-js that hands /rest/v1 requests to the edge functions'
// test engine (supabase/functions/_test/postgrest: the wire checks, the SQL
// as the request's role with its JWT claims, PostgREST's errors) on the
// benchmark's database, and answers Auth's GET /auth/v1/user for the users it
// knows. No socket between a function and "PostgREST": the simulation's own
// CPU goes to the functions and the database, which is what is measured.
import { PostgrestEngine, type Claims, type PoolLike } from '../../supabase/functions/_test/postgrest/engine.ts'
import { fromDatabase, PostgrestError } from '../../supabase/functions/_test/postgrest/errors.ts'
import { FUNCTION_SIGNATURE_SQL } from '../../supabase/functions/_test/postgrest/sql.ts'
import { parseRest } from '../../supabase/functions/_test/postgrest/wire.ts'

export interface RestOptions {
  serviceRoleKey: string
  anonKey: string
  /** A user's JWT is `user-jwt.<user id>` here; Auth answers that user. */
}

export const userJwt = (userId: string) => `user-jwt.${userId}`

type Client = Awaited<ReturnType<PoolLike['connect']>>

/**
 * The pool as PostgREST uses its connections: the function signatures come
 * from its schema cache (read once, not per call), and a request's opening
 * (begin, the role, the JWT claims) is one round trip, as PostgREST sends it,
 * not three.
 */
export function postgrestPool(pool: PoolLike): PoolLike {
  const signatures = new Map<string, Promise<Awaited<ReturnType<PoolLike['query']>>>>()
  return {
    query(text, values) {
      if (text !== FUNCTION_SIGNATURE_SQL) return pool.query(text, values)
      const key = JSON.stringify(values)
      let found = signatures.get(key)
      if (found === undefined) signatures.set(key, (found = pool.query(text, values)))
      return found
    },
    async connect() {
      const client = await pool.connect()
      const opening: string[] = []
      const wrapped: Client = {
        query(text, values) {
          if (text === 'begin' || text.startsWith('set local role ')) {
            opening.push(text)
            return Promise.resolve({ rows: [], rowCount: 0, command: '', fields: [] })
          }
          if (opening.length > 0 && text.startsWith(`select set_config('request.jwt.claims', $1, true)`)) {
            const claims = String(values?.[0]).replaceAll("'", "''")
            const batch = `${opening.join('; ')}; select set_config('request.jwt.claims', '${claims}', true)`
            opening.length = 0
            return client.query(batch)
          }
          return client.query(text, values)
        },
        release: () => client.release()
      }
      return wrapped
    }
  }
}

export function restFetch(pool: PoolLike, options: RestOptions): { fetch: typeof fetch; violations: string[] } {
  const engine = new PostgrestEngine(postgrestPool(pool))
  const violations: string[] = []
  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url)
    const text = await request.text()
    const body = text === '' ? undefined : JSON.parse(text)
    const bearer = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1]
    const apikey = request.headers.get('apikey')
    const userId = bearer?.startsWith('user-jwt.') ? bearer.slice('user-jwt.'.length) : undefined
    if (url.pathname === '/auth/v1/user') {
      if (userId === undefined) return Response.json({ code: 403, error_code: 'bad_jwt', msg: 'invalid JWT' }, { status: 403 })
      return Response.json({ id: userId, aud: 'authenticated', role: 'authenticated', app_metadata: {}, user_metadata: {}, created_at: new Date(0).toISOString() })
    }
    let claims: Claims
    if (apikey === options.serviceRoleKey && bearer === options.serviceRoleKey) claims = { role: 'service_role' }
    else if (apikey === options.anonKey && userId !== undefined) claims = { role: 'authenticated', sub: userId, aud: 'authenticated' }
    else return new PostgrestError(401, 'PGRST301', 'JWT invalid').toResponse()
    const rpc = /^\/rest\/v1\/rpc\/([^/]+)$/.exec(url.pathname)?.[1]
    if (rpc !== undefined) return await engine.rpc(rpc, body ?? {}, claims, violations)
    try {
      return await engine.rest(parseRest(request.method, url, request.headers, violations), body, claims)
    } catch (error) {
      return fromDatabase(error, claims.role).toResponse()
    }
  }
  return { fetch: (input, init) => handle(new Request(input, init)), violations }
}
