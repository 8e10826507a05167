// What every toolbox-tools operation works with once the caller is known to
// own the toolbox: the database, the toolbox row and its agent's client.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { DtmaClient } from '../../../packages/contract/src/index.ts'
import type { Database, EnvironmentRow } from '../_shared/database.ts'

export interface ToolboxContext {
  db: SupabaseClient<Database>
  toolbox: EnvironmentRow
  agent: DtmaClient
  /** The agent's own port: never handed out as a tool's host port. */
  agentPort: number
  deployTimeoutMs: number
}
