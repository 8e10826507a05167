// What every toolbox-tools operation works with once the caller is known to
// own the toolbox: the database, the toolbox row and its agent's client. The
// client is made on first use, so what needs no agent (the row list) works
// on a toolbox that has no IP address yet.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { DtmaClient } from '../../../packages/contract/src/index.ts'
import { agentClientFor, DEPLOY_TIMEOUT_MS, type AgentAccess } from '../_shared/agent.ts'
import type { Database, EnvironmentRow } from '../_shared/database.ts'

export interface ToolboxContext {
  db: SupabaseClient<Database>
  toolbox: EnvironmentRow
  /** The toolbox's agent; a 409 DTMA_TOOLBOX_NOT_READY while the toolbox has no IP address. */
  agent(): DtmaClient
  deployTimeoutMs: number
}

export function toolboxContext(db: SupabaseClient<Database>, toolbox: EnvironmentRow, access: AgentAccess): ToolboxContext {
  let client: DtmaClient | undefined
  return {
    db,
    toolbox,
    agent: () => (client ??= agentClientFor(toolbox, access)),
    deployTimeoutMs: access.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS
  }
}
