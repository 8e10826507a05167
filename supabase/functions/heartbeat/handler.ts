// heartbeat as a pure function of (request, deps): what each DTMA agent
// posts every interval (@dtma/contract HeartbeatBody), authenticated by the
// toolbox's own DTMA_BEARER_TOKEN, which is looked up in
// account_tool_environments.dtma_bearer_token. It writes only columns that
// exist: on the toolbox last_heartbeat_at, dtma_last_known_version,
// dtma_health_details_json (= system_status), the certificate the agent
// serves HTTPS with (dtma_tls_certificate_pem, dtma_tls_fingerprint_sha256,
// when the heartbeat has them) and status 'active' when it was
// coming up; on each reported instance of THIS toolbox status_on_toolbox and
// last_heartbeat_from_dtma. Agentopia's own function also writes
// runtime_details, a column dropped on 2025-05-12, and so loses every
// instance update; this one never names it. Answers 204.
import type { SupabaseClient } from '@supabase/supabase-js'
import { HeartbeatBody } from '../../../packages/contract/src/index.ts'
import { isUuid, type Database, type EnvironmentStatus } from '../_shared/database.ts'
import { CORS_HEADERS, databaseError, errorResponse, FunctionErrorCode, HttpError, readJsonObject } from '../_shared/http.ts'
import { authenticateToolbox } from '../_shared/toolbox-auth.ts'
import { validated } from '../_shared/validation.ts'

export interface HeartbeatDeps {
  /** Service-role client: the agent has no user, its token is checked here. */
  db: SupabaseClient<Database>
  now?: () => Date
}

/** A first heartbeat is what these statuses wait for. */
const COMING_UP: readonly EnvironmentStatus[] = ['provisioning', 'awaiting_heartbeat']

export async function handleRequest(request: Request, deps: HeartbeatDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const toolbox = await authenticateToolbox(request, deps.db)
    const heartbeat = validated(HeartbeatBody, await readJsonObject(request), 'heartbeat')
    const now = (deps.now?.() ?? new Date()).toISOString()
    const { error } = await deps.db
      .from('account_tool_environments')
      .update({
        last_heartbeat_at: now,
        dtma_last_known_version: heartbeat.dtma_version,
        dtma_health_details_json: heartbeat.system_status,
        // The certificate the agent serves now: what the functions pin from here on.
        ...(heartbeat.tls_certificate_pem !== undefined &&
          heartbeat.tls_fingerprint_sha256 !== undefined && {
            dtma_tls_certificate_pem: heartbeat.tls_certificate_pem,
            dtma_tls_fingerprint_sha256: heartbeat.tls_fingerprint_sha256
          }),
        ...(COMING_UP.includes(toolbox.status) && { status: 'active' as const })
      })
      .eq('id', toolbox.id)
    if (error) throw databaseError('record heartbeat', error)
    // Ids that cannot be rows are skipped: the column is a uuid.
    const reported = heartbeat.tool_statuses.filter((tool) => isUuid(tool.account_tool_instance_id))
    await Promise.all(
      reported.map(async (tool) => {
        const { error } = await deps.db
          .from('account_tool_instances')
          .update({ status_on_toolbox: tool.status_on_toolbox, last_heartbeat_from_dtma: now })
          .eq('id', tool.account_tool_instance_id)
          .eq('account_tool_environment_id', toolbox.id)
        if (error) throw databaseError('record tool instance heartbeat', error)
      })
    )
    return new Response(null, { status: 204, headers: CORS_HEADERS })
  } catch (error) {
    return errorResponse(error)
  }
}
