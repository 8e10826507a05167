// Refreshing one toolbox from its agent's GET /status, as Agentopia's
// refresh operation does, for refresh-status and toolboxes-user: the answer
// is mirrored into account_tool_environments (active, version, health,
// last_heartbeat_at) and into each reported instance's row of this toolbox
// (status_on_toolbox as an enum value); an agent that cannot be reached,
// answers non-2xx or no JSON object makes the toolbox 'unresponsive' with
// the reason. A toolbox being taken down is left alone, and one without an
// IP address yet is still coming up: neither is called nor written. An
// instance's MCP server goes into its mcp_* columns (mcpColumns).
import type { SupabaseClient } from '@supabase/supabase-js'
import { statusOnToolbox, type StatusReply } from '../../../packages/contract/src/index.ts'
import { mcpColumns } from './mcp-columns.ts'
import { agentCallError, agentStatus, connectAgent, type AgentAccess } from './agent.ts'
import { isUuid, type Database, type EnvironmentRow, type EnvironmentStatus, type Json } from './database.ts'
import { databaseError, HttpError } from './http.ts'

export interface RefreshDeps {
  /** Service-role client (the caller's ownership is checked before). */
  db: SupabaseClient<Database>
  agent: AgentAccess
  now?: () => Date
}

export type ToolboxRefresh =
  | { toolboxId: string; status: 'active'; dtmaVersion: string; instancesUpdated: number }
  | { toolboxId: string; status: 'unresponsive'; error: string; code: string }
  | { toolboxId: string; status: 'pending' | 'skipped'; reason: string }

/** Not called: the toolbox is gone or going. */
const NOT_REFRESHED: readonly EnvironmentStatus[] = ['deprovisioned', 'pending_deprovision']
/** Called, but an answer does not make them active again. */
const KEEP_STATUS: readonly EnvironmentStatus[] = ['deprovisioning', 'error_deprovisioning']

export async function refreshToolbox(toolbox: EnvironmentRow, deps: RefreshDeps): Promise<ToolboxRefresh> {
  if (NOT_REFRESHED.includes(toolbox.status)) {
    return { toolboxId: toolbox.id, status: 'skipped', reason: `Toolbox is ${toolbox.status}: not refreshed` }
  }
  if (!toolbox.public_ip_address) {
    return { toolboxId: toolbox.id, status: 'pending', reason: `Toolbox has no IP address yet (status ${toolbox.status}): DTMA cannot be asked` }
  }
  const checkedAt = (deps.now?.() ?? new Date()).toISOString()
  let reply: StatusReply
  const agent = connectAgent(toolbox, deps.agent)
  try {
    reply = await agentStatus(agent.client())
  } catch (error) {
    const failure = error instanceof HttpError ? error : agentCallError(error)
    await updateToolbox(deps.db, toolbox.id, { status: 'unresponsive', dtma_health_details_json: { error: failure.message, code: failure.code, checked_at: checkedAt } })
    return { toolboxId: toolbox.id, status: 'unresponsive', error: failure.message, code: failure.code }
  } finally {
    agent.close()
  }
  // An agent of an earlier build names its version only `version`.
  const dtmaVersion = reply.dtma_version ?? reply.version
  await updateToolbox(deps.db, toolbox.id, {
    ...(!KEEP_STATUS.includes(toolbox.status) && { status: 'active' }),
    last_heartbeat_at: checkedAt,
    dtma_last_known_version: dtmaVersion,
    dtma_health_details_json: healthDetails(reply)
  })
  return { toolboxId: toolbox.id, status: 'active', dtmaVersion, instancesUpdated: await mirrorInstances(deps.db, toolbox.id, reply, checkedAt) }
}

async function updateToolbox(db: SupabaseClient<Database>, toolboxId: string, update: Database['public']['Tables']['account_tool_environments']['Update']): Promise<void> {
  const { error } = await db.from('account_tool_environments').update(update).eq('id', toolboxId)
  if (error) throw databaseError('update toolbox health', error)
}

/** Each reported instance's status, as an enum value, on its own row of this
 *  toolbox only; an instance without a row id (adopted, or of an earlier agent) is skipped. */
async function mirrorInstances(db: SupabaseClient<Database>, toolboxId: string, reply: StatusReply, checkedAt: string): Promise<number> {
  const instances = (reply.tool_instances ?? []).filter((instance) => typeof instance.account_tool_instance_id === 'string' && isUuid(instance.account_tool_instance_id))
  // DTMA's part of mcp_discovery_metadata is merged into what the backend wrote there.
  const discovery = new Map<string, Json | null>()
  if (instances.some((instance) => instance.mcp != null)) {
    const { data, error } = await db.from('account_tool_instances').select('id, mcp_discovery_metadata').eq('account_tool_environment_id', toolboxId)
    if (error) throw databaseError('read tool instance MCP metadata', error)
    for (const row of data) discovery.set(row.id, row.mcp_discovery_metadata)
  }
  let updated = 0
  for (const instance of instances) {
    const status = statusOnToolbox(String(instance.status))
    const { data, error } = await db
      .from('account_tool_instances')
      .update({
        status_on_toolbox: status,
        last_heartbeat_from_dtma: checkedAt,
        instance_error_message: status === 'error' ? `DTMA reports ${instance.status} (docker: ${instance.docker_status})` : null,
        ...mcpColumns(instance.mcp, discovery.get(instance.account_tool_instance_id) ?? null, checkedAt)
      })
      .eq('id', instance.account_tool_instance_id)
      .eq('account_tool_environment_id', toolboxId)
      .select('id')
    if (error) throw databaseError('update tool instance status', error)
    updated += data.length
  }
  return updated
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
