// refresh-status as a pure function of (request, deps): for one toolbox
// (body `{ toolboxId }`) or all of the caller's, ask each agent for
// `GET /status` and mirror the answer into account_tool_environments and
// account_tool_instances; an agent that does not answer is 'unresponsive'.
import type { SupabaseClient } from '@supabase/supabase-js'
import { statusOnToolbox, type StatusReply } from '../../../packages/contract/src/index.ts'
import { agentCallError, agentClientFor, type AgentAccess } from '../_shared/agent.ts'
import { authenticateUser } from '../_shared/auth.ts'
import type { Database, EnvironmentRow, Json } from '../_shared/database.ts'
import { CORS_HEADERS, databaseError, errorResponse, FunctionErrorCode, HttpError, json, readJsonObject } from '../_shared/http.ts'
import { listOwnedToolboxes, loadOwnedToolbox } from '../_shared/toolboxes.ts'

export interface RefreshStatusDeps {
  /** Service-role client: checks user JWTs and writes the rows (after the ownership check). */
  db: SupabaseClient<Database>
  agent: AgentAccess
  now?: () => Date
}

export type ToolboxRefresh =
  | { toolboxId: string; status: 'active'; dtmaVersion: string; instancesUpdated: number }
  | { toolboxId: string; status: 'unresponsive'; error: string; code: string }

export async function handleRequest(request: Request, deps: RefreshStatusDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const userId = await authenticateUser(request, deps.db)
    const { toolboxId } = await readJsonObject(request)
    if (toolboxId !== undefined && (typeof toolboxId !== 'string' || toolboxId === '')) {
      throw new HttpError(400, FunctionErrorCode.badRequest, 'toolboxId must be a non-empty string')
    }
    const toolboxes = toolboxId === undefined ? await listOwnedToolboxes(deps.db, userId) : [await loadOwnedToolbox(deps.db, toolboxId, userId)]
    // Toolboxes are independent: one slow agent must not delay the others' answers.
    const data = await Promise.all(toolboxes.map((toolbox) => refreshToolbox(toolbox, deps)))
    return json(200, { success: true, data })
  } catch (error) {
    return errorResponse(error)
  }
}

async function refreshToolbox(toolbox: EnvironmentRow, deps: RefreshStatusDeps): Promise<ToolboxRefresh> {
  const checkedAt = (deps.now?.() ?? new Date()).toISOString()
  let reply: StatusReply
  try {
    const answer = await agentClientFor(toolbox, deps.agent).status()
    reply = answer.body
  } catch (error) {
    const failure = error instanceof HttpError ? error : agentCallError(error)
    await markUnresponsive(deps.db, toolbox.id, failure, checkedAt)
    return { toolboxId: toolbox.id, status: 'unresponsive', error: failure.message, code: failure.code }
  }
  const { error } = await deps.db
    .from('account_tool_environments')
    .update({
      status: 'active',
      last_heartbeat_at: checkedAt,
      dtma_last_known_version: reply.dtma_version,
      dtma_health_details_json: healthDetails(reply)
    })
    .eq('id', toolbox.id)
  if (error) throw databaseError('update toolbox health', error)
  return { toolboxId: toolbox.id, status: 'active', dtmaVersion: reply.dtma_version, instancesUpdated: await mirrorInstances(deps.db, toolbox.id, reply, checkedAt) }
}

/** Each reported instance's status, as an enum value, on its own row of this toolbox only. */
async function mirrorInstances(db: SupabaseClient<Database>, toolboxId: string, reply: StatusReply, checkedAt: string): Promise<number> {
  let updated = 0
  for (const instance of reply.tool_instances ?? []) {
    const status = statusOnToolbox(instance.status)
    const { data, error } = await db
      .from('account_tool_instances')
      .update({
        status_on_toolbox: status,
        last_heartbeat_from_dtma: checkedAt,
        instance_error_message: status === 'error' ? `DTMA reports ${instance.status} (docker: ${instance.docker_status})` : null
      })
      .eq('id', instance.account_tool_instance_id)
      .eq('account_tool_environment_id', toolboxId)
      .select('id')
    if (error) throw databaseError('update tool instance status', error)
    updated += data.length
  }
  return updated
}

async function markUnresponsive(db: SupabaseClient<Database>, toolboxId: string, failure: HttpError, checkedAt: string): Promise<void> {
  const { error } = await db
    .from('account_tool_environments')
    .update({ status: 'unresponsive', dtma_health_details_json: { error: failure.message, code: failure.code, checked_at: checkedAt } })
    .eq('id', toolboxId)
  if (error) throw databaseError('mark toolbox unresponsive', error)
}

function healthDetails(reply: StatusReply): Json {
  return {
    status: reply.status,
    reason: reply.reason ?? null,
    version: reply.version,
    timestamp: reply.timestamp,
    environment: reply.environment,
    system_metrics: reply.system_metrics ?? null,
    instance_count: reply.tool_instances?.length ?? 0
  }
}
