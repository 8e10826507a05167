// The edge functions' settings, read once from the function's environment
// when it starts; nothing else reads Deno.env.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import { TOKEN_MAX_LIFETIME_S } from '../../../packages/contract/src/index.ts'
import { DEFAULT_AGENT_PORT, type AgentAccess } from './agent.ts'
import type { Database } from './database.ts'

export interface FunctionEnv {
  db: SupabaseClient<Database>
  agent: AgentAccess
}

function required(name: string): string {
  const value = Deno.env.get(name)
  if (!value) throw new Error(`missing setting ${name}`)
  return value
}

/** Settings of the functions that call agents. */
export function loadFunctionEnv(): FunctionEnv {
  const agentPort = Number(Deno.env.get('DTMA_AGENT_PORT') ?? DEFAULT_AGENT_PORT)
  if (!Number.isInteger(agentPort) || agentPort < 1 || agentPort > 65535) throw new Error('DTMA_AGENT_PORT must be a port number')
  const mcpTokenLifetime = Deno.env.get('DTMA_MCP_TOKEN_LIFETIME_S')
  const mcpTokenLifetimeS = mcpTokenLifetime === undefined ? undefined : Number(mcpTokenLifetime)
  if (mcpTokenLifetimeS !== undefined && (!Number.isInteger(mcpTokenLifetimeS) || mcpTokenLifetimeS < 60 || mcpTokenLifetimeS > TOKEN_MAX_LIFETIME_S.mcp)) {
    throw new Error(`DTMA_MCP_TOKEN_LIFETIME_S must be whole seconds from 60 to ${TOKEN_MAX_LIFETIME_S.mcp}`)
  }
  return {
    db: loadServiceClient(),
    agent: { token: required('BACKEND_TO_DTMA_API_KEY'), port: agentPort, ...(mcpTokenLifetimeS !== undefined && { mcpTokenLifetimeS }) }
  }
}

/** The database alone, for a function that calls no agent (heartbeat). */
export function loadServiceClient(): SupabaseClient<Database> {
  return createServiceClient(required('SUPABASE_URL'), required('SUPABASE_SERVICE_ROLE_KEY'))
}

/** A server-side client: no session to persist or refresh. */
export function createServiceClient(url: string, serviceRoleKey: string, fetchImpl?: typeof fetch): SupabaseClient<Database> {
  return createClient<Database>(url, serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    ...(fetchImpl ? { global: { fetch: fetchImpl } } : {})
  })
}
