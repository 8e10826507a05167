// heartbeat as a pure function of (request, deps): what each DTMA agent
// posts every interval (@dtma/contract HeartbeatBody), authenticated by the
// toolbox's own DTMA_BEARER_TOKEN. One database call per heartbeat: the body,
// checked against the contract here, goes whole to dtma_heartbeat
// (supabase/migrations/20261205140000_dtma_fleet_scale.sql), which finds the
// toolbox by its token and writes last_heartbeat_at, dtma_last_known_version,
// dtma_health_details_json (= system_status), the certificate the agent serves
// HTTPS with (dtma_tls_certificate_pem, dtma_tls_fingerprint_sha256, when the
// heartbeat has them) and status 'active' when it was coming up, and on each reported instance of THIS toolbox whose status
// changed, status_on_toolbox and last_heartbeat_from_dtma. A heartbeat that
// reports no change writes one row. Agentopia's own function also writes
// runtime_details, a column dropped on 2025-05-12, and so loses every
// instance update; this one never names it. Answers 204.
import type { SupabaseClient } from '@supabase/supabase-js'
import { HeartbeatBody } from '../../../packages/contract/src/index.ts'
import type { Database, Json } from '../_shared/database.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, readJsonObject } from '../_shared/http.ts'
import { rpcError } from '../_shared/rpc-error.ts'
import { requiredToolboxToken } from '../_shared/toolbox-auth.ts'
import { validated } from '../_shared/validation.ts'

export interface HeartbeatDeps {
  /** Service-role client: the agent has no user, its token is checked in SQL. */
  db: SupabaseClient<Database>
  now?: () => Date
}

export async function handleRequest(request: Request, deps: HeartbeatDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const token = requiredToolboxToken(request)
    const heartbeat = validated(HeartbeatBody, await readJsonObject(request), 'heartbeat')
    const { error } = await deps.db.rpc('dtma_heartbeat', {
      p_token: token,
      p_heartbeat: heartbeat as unknown as Json,
      p_at: (deps.now?.() ?? new Date()).toISOString()
    })
    if (error) throw rpcError('record heartbeat', error)
    return new Response(null, { status: 204, headers: CORS_HEADERS })
  } catch (error) {
    return errorResponse(error)
  }
}
