// One simulated toolbox: the instances its agent runs and what that agent
// sends about them, built as the agent builds it (heartbeat-payload.ts,
// registry-row.ts, mcp-info.ts of packages/agent, typed by the contract):
// a heartbeat with every instance's status, runtime and MCP server, and a
// registry row per instance. Churn changes one instance at a time as a
// toolbox sees it: a deploy (new container), a stop, a crash (error, then
// running again), an MCP server turning degraded or ready, a new tool list.
import { portMapping, statusOnToolbox, type HeartbeatBody, type RegistryRow, type StatusReply } from '../../packages/contract/src/index.ts'

export type InstanceStatus = 'running' | 'stopped' | 'error'
export type McpStatus = 'ready' | 'degraded' | 'stopped'

export interface SimInstance {
  id: string
  name: string
  status: InstanceStatus
  containerId: string
  created: number
  hostPort: number
  mcpStatus: McpStatus
  fingerprint: string
}

export type ChurnKind = 'deploy' | 'stop' | 'crash' | 'mcp-status' | 'tools-changed'
export const CHURN_KINDS: readonly ChurnKind[] = ['deploy', 'stop', 'crash', 'mcp-status', 'tools-changed']

const IMAGE = 'ghcr.io/agentopia/mcp-tool:1.4.2'
const VERSION = '0.4.0'
const hex = (bytes: number) => [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, '0')).join('')

export function newInstance(id: string, index: number): SimInstance {
  return {
    id,
    name: `tool-${index}`,
    status: 'running',
    containerId: hex(32),
    created: Math.floor(Date.now() / 1000),
    hostPort: 30001 + index,
    mcpStatus: 'ready',
    fingerprint: hex(32)
  }
}

/** Applies one change to the instance, as the agent would see it. */
export function churn(instance: SimInstance, kind: ChurnKind): void {
  switch (kind) {
    case 'deploy':
      instance.containerId = hex(32)
      instance.created = Math.floor(Date.now() / 1000)
      instance.status = 'running'
      instance.mcpStatus = 'ready'
      break
    case 'stop':
      instance.status = instance.status === 'stopped' ? 'running' : 'stopped'
      instance.mcpStatus = instance.status === 'stopped' ? 'stopped' : 'ready'
      break
    case 'crash':
      instance.status = instance.status === 'error' ? 'running' : 'error'
      instance.mcpStatus = instance.status === 'error' ? 'stopped' : 'ready'
      break
    case 'mcp-status':
      instance.mcpStatus = instance.mcpStatus === 'ready' ? 'degraded' : 'ready'
      break
    case 'tools-changed':
      instance.fingerprint = hex(32)
      break
  }
}

function mcpInfo(instance: SimInstance, checkedAt: string) {
  return {
    transport: 'stdio' as const,
    endpoint: '/mcp',
    port: null,
    capabilities: ['tools'],
    url_path: `/tools/${encodeURIComponent(instance.name)}/mcp`,
    status: instance.mcpStatus,
    protocol_version: '2025-06-18',
    server_info: { name: instance.name, version: '1.4.2' },
    server_capabilities: ['tools', 'logging'],
    last_ping_ms: 1.2,
    tools_count: 3,
    tools_fingerprint: instance.fingerprint,
    checked_at: checkedAt,
    last_error: null
  }
}

const dockerState = (instance: SimInstance) => (instance.status === 'running' ? 'running' : 'exited')

export function heartbeatBody(instances: readonly SimInstance[], now = new Date()): HeartbeatBody {
  const total = 4_000_000_000
  const free = 1_000_000_000 + Math.floor(Math.random() * 500_000_000)
  return {
    dtma_version: VERSION,
    system_status: {
      cpu_load_percent: Math.round(Math.random() * 400) / 10,
      load_average: [Math.random(), Math.random(), Math.random()],
      memory: { total_bytes: total, free_bytes: free, used_bytes: total - free, active_bytes: total - free - 100_000_000 },
      disk: { mount: '/', total_bytes: 50_000_000_000, used_bytes: 12_000_000_000, free_bytes: 38_000_000_000 },
      uptime_seconds: 86_400
    },
    tool_statuses: instances.map((instance) => ({
      account_tool_instance_id: instance.id,
      instance_name_on_toolbox: instance.name,
      status_on_toolbox: statusOnToolbox(instance.status),
      runtime: {
        container_id: instance.containerId,
        image: IMAGE,
        created_at: new Date(instance.created * 1000).toISOString(),
        docker_status: dockerState(instance),
        ports: instance.status === 'running' ? [portMapping({ container_port: 8080, protocol: 'tcp', host_ip: '127.0.0.1', host_port: instance.hostPort })] : []
      },
      mcp: mcpInfo(instance, now.toISOString())
    }))
  }
}

export function registryRow(instance: SimInstance, environmentId: string, now = new Date()): RegistryRow {
  const mcp = mcpInfo(instance, now.toISOString())
  return {
    account_tool_instance_id: instance.id,
    account_tool_environment_id: environmentId,
    container_name: `dtma-${instance.name}`,
    instance_name_on_toolbox: instance.name,
    docker_image_url: IMAGE,
    container_id: instance.containerId,
    dtma_status: instance.status,
    docker_status: dockerState(instance),
    port_bindings: instance.status === 'running' ? { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(instance.hostPort) }] } : {},
    environment_variables: ['API_KEY', 'LOG_LEVEL'],
    last_seen_at: now.toISOString(),
    egress: 'internet',
    mcp_status: mcp.status,
    mcp_transport: mcp.transport,
    mcp_endpoint_path: mcp.url_path,
    mcp_server_info: mcp.server_info,
    mcp_tools: [{ name: 'search', description: 'Search', inputSchema: { type: 'object' } }],
    mcp_tools_fingerprint: mcp.tools_fingerprint,
    mcp_checked_at: mcp.checked_at
  }
}

/** The agent's GET /status answer (the contract's StatusReply), as refresh-status reads it. */
export function statusReply(instances: readonly SimInstance[], now = new Date()): StatusReply {
  const system = heartbeatBody([], now).system_status
  return {
    status: 'healthy',
    service: 'DTMA',
    version: VERSION,
    dtma_version: VERSION,
    commit: 'bench',
    timestamp: now.toISOString(),
    environment: { hasAuthToken: true, hasApiKey: true, hasApiBaseUrl: true, port: '30000' },
    system_metrics: system,
    tool_instances: instances.map((instance) => ({
      account_tool_instance_id: instance.id,
      instance_name_on_toolbox: instance.name,
      status: instance.status,
      container_id: instance.containerId,
      container_name: `dtma-${instance.name}`,
      image: IMAGE,
      ports: instance.status === 'running' ? [portMapping({ container_port: 8080, protocol: 'tcp', host_ip: '127.0.0.1', host_port: instance.hostPort })] : [],
      created: instance.created,
      desired_state: instance.status === 'stopped' ? 'stopped' : 'running',
      docker_status: dockerState(instance),
      health: 'none',
      mcp: mcpInfo(instance, now.toISOString()),
      limits: { memory_bytes: 536870912, cpus: 1, pids: 256 },
      egress: 'internet'
    }))
  }
}
