// Refreshing one toolbox from its agent's GET /status, as Agentopia's
// refresh operation does, for refresh-status and toolboxes-user: the answer
// is mirrored into account_tool_environments (active, version, health,
// last_heartbeat_at) and into each reported instance's row of this toolbox
// (status_on_toolbox as an enum value); an agent that cannot be reached,
// answers non-2xx or no JSON object makes the toolbox 'unresponsive' with
// the reason. A toolbox being taken down is left alone, and one without an
// IP address yet is still coming up: neither is called nor written. An
// instance's MCP server goes into its mcp_* columns (mcpColumns).
// Either way it is one database call, dtma_refresh_toolbox
// (supabase/migrations/20261205150000_dtma_refresh_toolbox.sql): the toolbox
// row is written, an instance row only when what it holds changes (times
// alone do not count), so a refresh that finds nothing new writes one row.
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
    await refreshRows(deps.db, toolbox.id, { status: 'unresponsive', dtma_health_details_json: { error: failure.message, code: failure.code, checked_at: checkedAt } }, [], checkedAt)
    return { toolboxId: toolbox.id, status: 'unresponsive', error: failure.message, code: failure.code }
  } finally {
    agent.close()
  }
  // An agent of an earlier build names its version only `version`.
  const dtmaVersion = reply.dtma_version ?? reply.version
  const columns: ToolboxUpdate = {
    ...(!KEEP_STATUS.includes(toolbox.status) && { status: 'active' }),
    last_heartbeat_at: checkedAt,
    dtma_last_known_version: dtmaVersion,
    dtma_health_details_json: healthDetails(reply)
  }
  const instancesUpdated = await refreshRows(deps.db, toolbox.id, columns, instanceColumns(reply, checkedAt), checkedAt)
  return { toolboxId: toolbox.id, status: 'active', dtmaVersion, instancesUpdated }
}

type ToolboxUpdate = Database['public']['Tables']['account_tool_environments']['Update']
type InstanceUpdate = Database['public']['Tables']['account_tool_instances']['Update'] & { id: string }

/** The toolbox's row and its reported instances' rows, in one call: how many reported instances are rows of this toolbox. */
async function refreshRows(db: SupabaseClient<Database>, toolboxId: string, toolbox: ToolboxUpdate, instances: InstanceUpdate[], checkedAt: string): Promise<number> {
  const { data, error } = await db.rpc('dtma_refresh_toolbox', {
    p_toolbox_id: toolboxId,
    p_toolbox: toolbox as Json,
    p_instances: instances as unknown as Json,
    p_at: checkedAt
  })
  if (error) throw databaseError('refresh toolbox and instance status', error)
  return data
}

/** Each reported instance's status, as an enum value, for its own row of this
 *  toolbox only; an instance without a row id (adopted, or of an earlier agent)
 *  is skipped. DTMA's part of mcp_discovery_metadata is merged by the database
 *  into what the backend wrote there. */
function instanceColumns(reply: StatusReply, checkedAt: string): InstanceUpdate[] {
  return (reply.tool_instances ?? []).flatMap((instance) => {
    const id = instance.account_tool_instance_id
    if (typeof id !== 'string' || !isUuid(id)) return []
    const status = statusOnToolbox(String(instance.status))
    return [{
      id,
      status_on_toolbox: status,
      instance_error_message: status === 'error' ? `DTMA reports ${instance.status} (docker: ${instance.docker_status})` : null,
      ...mcpColumns(instance.mcp, checkedAt)
    }]
  })
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
