// What every toolbox-tools operation works with once the caller is known to
// own the toolbox: the database, the toolbox row and its agent's client. The
// connection is made on first use, so what needs no agent (the row list) works
// on a toolbox that has no IP address yet.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { DtmaClient } from '../../../packages/contract/src/index.ts'
import { callsWithTokens, connectAgent, DEPLOY_TIMEOUT_MS, type AgentAccess, type AgentConnection } from '../_shared/agent.ts'
import type { Database, EnvironmentRow } from '../_shared/database.ts'
import { DEFAULT_MCP_TOKEN_LIFETIME_S } from './mcp-access.ts'

export interface ToolboxContext {
  db: SupabaseClient<Database>
  toolbox: EnvironmentRow
  /** The toolbox's agent, its tokens narrowed to the instance when one is named; a 409
   *  DTMA_TOOLBOX_NOT_READY while the toolbox has no IP address. */
  agent(accountToolInstanceId?: string): DtmaClient
  deployTimeoutMs: number
  /** The port agents listen on, and how long an `mcp` token lasts (mcp-access.ts). */
  agentPort: number
  mcpTokenLifetimeS: number
  /** True when the agent is called with per-request tokens (the row has its certificate), not the fleet key. */
  signsTokens(): boolean
  /** Ends the connection to the agent (the pinned HTTP client), once the request is answered. */
  close(): void
}

export function toolboxContext(db: SupabaseClient<Database>, toolbox: EnvironmentRow, access: AgentAccess): ToolboxContext {
  let connection: AgentConnection | undefined
  return {
    db,
    toolbox,
    agent: (accountToolInstanceId) => (connection ??= connectAgent(toolbox, access)).client(accountToolInstanceId),
    deployTimeoutMs: access.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS,
    agentPort: access.port,
    mcpTokenLifetimeS: access.mcpTokenLifetimeS ?? DEFAULT_MCP_TOKEN_LIFETIME_S,
    signsTokens: () => callsWithTokens(toolbox),
    close: () => connection?.close()
  }
}
