// Agentopia's frontend as DTMA's edge functions meet it: a supabase-js
// browser client (the publishable key as apikey, the signed-in user's JWT as
// Authorization) sending exactly the requests of Agentopia's code, and
// handing back what that code reads from the answers:
//   adminMCPService (src/lib/services/adminMCPService/deployment.ts, index.ts):
//     deploy  invoke(`toolbox-tools/${environmentId}/tools`, POST { toolCatalogId: '0…01',
//             instanceNameOnToolbox, baseConfigOverrideJson: { dockerImage, environmentVariables,
//             portMappings (default [{ containerPort: 8080, hostPort: 30000 }]) } }),
//             reads deployment.id, then writes the mcp_* columns of that row itself;
//     start / stop  invoke(`toolbox-tools/${environmentId}/tools/${serverId}/start|stop`, POST, no body);
//     restart  stop, a pause, start;
//     delete  stop first when the row says running, a pause, then
//             invoke(`toolbox-tools/${environmentId}/tools/${serverId}`, DELETE);
//   HealthMonitor.tsx: invoke('toolbox-tools', { body: { toolboxId } }), reads
//     tool_instances.length and dtma_connected;
//   lib/api/toolboxTools.ts listToolInstancesForToolbox: fetch GET
//     ${SUPABASE_URL}/functions/v1/toolbox-tools/${toolboxId}/tools with the
//     session's Authorization and Content-Type, reads a bare array of rows;
//   the earlier function's body form: invoke(`toolbox-tools/${toolboxId}`, POST { action, instanceId });
//   the toolbox page's refresh: invoke(`toolboxes-user/${toolboxId}/refresh-status`, POST),
//     reads back the account_tool_environments row.
// serveFunctions puts DTMA's functions behind the stand-in's gateway, where
// these requests arrive as they would at Supabase.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import { handleRequest as toolboxTools } from '../toolbox-tools/handler.ts'
import { handleRequest as toolboxesUser } from '../toolboxes-user/handler.ts'
import { handleRequest as refreshStatus } from '../refresh-status/handler.ts'
import { handleRequest as heartbeat } from '../heartbeat/handler.ts'
import type { AgentAccess } from '../_shared/agent.ts'
import { ANON_KEY, MCP_CATALOG_ID, type World } from './fixtures.ts'

export function serveFunctions(world: World, agent: AgentAccess, now?: () => Date): void {
  const deps = { db: world.db, agent, ...(now && { now }) }
  world.standIn.functions.set('toolbox-tools', (request) => toolboxTools(request, deps))
  world.standIn.functions.set('toolboxes-user', (request) => toolboxesUser(request, deps))
  world.standIn.functions.set('refresh-status', (request) => refreshStatus(request, deps))
  world.standIn.functions.set('heartbeat', (request) => heartbeat(request, deps))
}

/** adminMCPService's MCPServerDeploymentConfig, the fields its deploy uses. */
export interface McpServerConfig {
  serverName: string
  serverType: string
  dockerImage: string
  transport: 'http' | 'stdio'
  endpointPath?: string
  capabilities?: string[]
  environmentVariables?: Record<string, string>
  portMappings?: Array<{ containerPort: number; hostPort: number }>
}

/** What a caller gets back from an edge function: the parsed answer, or the error with the function's JSON. */
export interface Invoked<T = Record<string, unknown>> {
  data: T | null
  status: number
  error: { message: string; body: Record<string, unknown> } | null
}

export class AgentopiaFrontend {
  readonly supabase: SupabaseClient

  /** `pauseMs`: adminMCPService waits 2 s between stop and start; tests shorten it. */
  constructor(
    private readonly world: World,
    private readonly jwt: string,
    private readonly pauseMs = 0
  ) {
    this.supabase = createClient(world.standIn.url, ANON_KEY, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { headers: { Authorization: `Bearer ${jwt}` } }
    })
  }

  /** adminMCPService.deployMCPServer: the deploy, then its own update of the row's mcp_* columns. */
  async deployMCPServer(environmentId: string, config: McpServerConfig): Promise<{ deployment: Invoked; mcpUpdate: { message: string } | null }> {
    const deployment = await this.invoke(`toolbox-tools/${environmentId}/tools`, {
      method: 'POST',
      body: {
        toolCatalogId: MCP_CATALOG_ID,
        instanceNameOnToolbox: config.serverName,
        baseConfigOverrideJson: {
          dockerImage: config.dockerImage,
          environmentVariables: config.environmentVariables || {},
          portMappings: config.portMappings || [{ containerPort: 8080, hostPort: 30000 }]
        }
      }
    })
    if (deployment.error || !deployment.data) return { deployment, mcpUpdate: null }
    const { error } = await this.supabase
      .from('account_tool_instances')
      .update({
        mcp_server_type: config.serverType,
        mcp_transport_type: config.transport,
        mcp_endpoint_path: config.endpointPath || '/mcp',
        mcp_server_capabilities: config.capabilities || [],
        mcp_discovery_metadata: { deployedAt: new Date().toISOString(), deploymentConfig: config, deploymentId: crypto.randomUUID(), adminDeployed: true }
      })
      .eq('id', deployment.data.id)
    return { deployment, mcpUpdate: error }
  }

  startMCPServer(environmentId: string, serverId: string): Promise<Invoked> {
    return this.invoke(`toolbox-tools/${environmentId}/tools/${serverId}/start`, { method: 'POST' })
  }

  stopMCPServer(environmentId: string, serverId: string): Promise<Invoked> {
    return this.invoke(`toolbox-tools/${environmentId}/tools/${serverId}/stop`, { method: 'POST' })
  }

  async restartMCPServer(environmentId: string, serverId: string): Promise<Invoked> {
    const stopped = await this.stopMCPServer(environmentId, serverId)
    if (stopped.error) return stopped
    await this.pause()
    return await this.startMCPServer(environmentId, serverId)
  }

  /** The row is read first, as getServerById does, to stop a running server before the delete. */
  async deleteMCPServer(environmentId: string, serverId: string): Promise<Invoked> {
    const { data } = await this.supabase.from('account_tool_instances').select('status_on_toolbox').eq('id', serverId).maybeSingle()
    if (data?.status_on_toolbox === 'running') {
      const stopped = await this.stopMCPServer(environmentId, serverId)
      if (stopped.error) return stopped
      await this.pause()
    }
    return await this.invoke(`toolbox-tools/${environmentId}/tools/${serverId}`, { method: 'DELETE' })
  }

  /** HealthMonitor's "Backend API" check, as it reads it. */
  async healthMonitorCheck(toolboxId: string): Promise<{ healthy: boolean; toolInstances: number; dtmaConnected: unknown; error?: string }> {
    const { data, error } = await this.invoke<{ tool_instances?: unknown[]; dtma_connected?: unknown }>('toolbox-tools', { body: { toolboxId } })
    if (error) return { healthy: false, toolInstances: 0, dtmaConnected: undefined, error: error.message }
    return { healthy: true, toolInstances: data?.tool_instances?.length || 0, dtmaConnected: data?.dtma_connected }
  }

  /** toolboxTools.ts listToolInstancesForToolbox: plain fetch, a bare array expected. */
  async listToolInstancesForToolbox(toolboxId: string): Promise<Array<Record<string, unknown>>> {
    const response = await fetch(`${this.world.standIn.url}/functions/v1/toolbox-tools/${toolboxId}/tools`, {
      method: 'GET',
      headers: { Authorization: `Bearer ${this.jwt}`, 'Content-Type': 'application/json' }
    })
    if (!response.ok) {
      const errorData = await response.json().catch(() => ({ message: response.statusText }))
      throw new Error(errorData.message || `Failed to fetch tool instances. Status: ${response.status}`)
    }
    return await response.json()
  }

  /** The body form: { action, instanceId } at toolbox-tools/{toolboxId}. */
  toolboxAction(toolboxId: string, action: string, instanceId: string): Promise<Invoked> {
    return this.invoke(`toolbox-tools/${toolboxId}`, { method: 'POST', body: { action, instanceId } })
  }

  /** The toolbox page's refresh; answers the account_tool_environments row. */
  refreshToolboxStatus(toolboxId: string): Promise<Invoked> {
    return this.invoke(`toolboxes-user/${toolboxId}/refresh-status`, { method: 'POST' })
  }

  private async invoke<T = Record<string, unknown>>(name: string, options: { method?: 'POST' | 'DELETE'; body?: Record<string, unknown> }): Promise<Invoked<T>> {
    const { data, error, response } = await this.supabase.functions.invoke(name, options)
    if (!error) return { data: data as T, status: response?.status ?? 0, error: null }
    const context = (error as { context?: Response }).context
    const body = context ? await context.json().catch(() => ({})) : {}
    return { data: null, status: context?.status ?? 0, error: { message: error.message, body } }
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.pauseMs))
  }
}
