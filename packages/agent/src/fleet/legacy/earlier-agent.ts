// What the earlier agent left on a toolbox, and how to tell its tool
// containers from everything else. It named a tool's container exactly after
// the instance (only names Docker accepts ever got one), set no labels and
// restart policy `unless-stopped`; its MCP group routes labelled theirs
// `agentopia.mcp.*`; it ran itself as `dtma_manager`. Pure: it judges
// containers as inspected, and a container it does not accept is never touched.
import type { LegacyReason, McpSettings } from '@dtma/contract'
import { LABEL_PREFIX } from '../../runtime/labels.ts'
import type { ContainerInfo, ImageDefaults } from '../../runtime/types.ts'

export const AgentopiaMcpLabel = {
  server: 'agentopia.mcp.server',
  instanceName: 'agentopia.mcp.instance_name',
  accountToolInstanceId: 'agentopia.mcp.account_tool_instance_id',
  transport: 'agentopia.mcp.transport_type',
  endpoint: 'agentopia.mcp.endpoint_path'
} as const

/** The agent's own container, as the backend's provisioning names it. */
export const AGENT_CONTAINER_NAME = 'dtma_manager'
/** The image title our agent image carries (docker/Dockerfile). */
const AGENT_IMAGE_TITLE = 'DTMA agent'
/** Docker's container name grammar. */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/

/** A container of an earlier agent, and what it becomes when taken over. */
export interface LegacyContainer {
  container: ContainerInfo
  /** Its environment without the entries its image sets: what the earlier agent gave it. */
  env: string[]
  instanceName: string
  /** From its agentopia.mcp label; undefined: a deploy or an explicit adopt brings it. */
  accountToolInstanceId: string | undefined
  mcp: McpSettings | undefined
  reasons: LegacyReason[]
}

/** Whether an instance name can be a Docker name (the earlier agent's only containers). */
export function isDockerName(name: string): boolean {
  return DOCKER_NAME.test(name) && name.length <= 128
}

/** Why a container is never an earlier agent's tool: DTMA's (of any scope, or
 *  its helpers), or an agent itself. Undefined: it may be one. */
export function neverLegacy(container: ContainerInfo, agentPort: number): string | undefined {
  if (Object.keys(container.labels).some((key) => key.startsWith(LABEL_PREFIX))) return "it carries DTMA's labels"
  if (/^dtma[_-]manager/.test(container.name)) return 'it is an agent container'
  if (container.labels['org.opencontainers.image.title'] === AGENT_IMAGE_TITLE) return 'it runs the DTMA agent image'
  if ((container.mounts ?? []).some((mount) => /docker\.sock$/.test(mount.source) || /docker\.sock$/.test(mount.destination))) return 'it mounts the Docker socket (an agent or its helper)'
  if (container.ports.some((port) => port.host_port === agentPort && port.protocol === 'tcp')) return "it publishes the agent's port"
  if (Object.keys(container.labels).some((key) => key.startsWith('com.docker.compose.'))) return 'Docker Compose manages it'
  return undefined
}

function mcpFromAgentopiaLabels(labels: Record<string, string>, ports: ContainerInfo['ports']): McpSettings | undefined {
  const transport = labels[AgentopiaMcpLabel.transport]
  if (transport !== 'stdio' && transport !== 'http' && transport !== 'sse') return undefined
  return {
    transport,
    endpoint: labels[AgentopiaMcpLabel.endpoint] || '/mcp',
    port: transport === 'stdio' ? null : (ports[0]?.container_port ?? null),
    capabilities: []
  }
}

export interface Judged {
  /** The agent's own port: a container publishing it is an agent. */
  agentPort: number
  /** What the container's image sets: Docker copies its labels and env onto the container, and they are not the container's own. */
  image: ImageDefaults
}

/** An inspected container as an earlier agent's, or undefined: one labelled
 *  by its MCP routes, or an unlabelled one with its restart policy, named as
 *  an instance can be. */
export function asLegacy(container: ContainerInfo, judged: Judged): LegacyContainer | undefined {
  if (neverLegacy(container, judged.agentPort) !== undefined) return undefined
  const { labels } = container
  const reasons: LegacyReason[] = []
  let instanceName = container.name
  let accountToolInstanceId: string | undefined
  if (labels[AgentopiaMcpLabel.server] === 'true' && (labels[AgentopiaMcpLabel.accountToolInstanceId] ?? '') !== '') {
    reasons.push('agentopia-mcp-labels')
    instanceName = labels[AgentopiaMcpLabel.instanceName] || container.name
    accountToolInstanceId = labels[AgentopiaMcpLabel.accountToolInstanceId]
  } else {
    if (container.restartPolicy !== 'unless-stopped' || !isDockerName(container.name)) return undefined
    if (Object.entries(labels).some(([key, value]) => judged.image.labels[key] !== value)) return undefined
    reasons.push('unlabelled', 'restart-unless-stopped', 'named-like-an-instance')
  }
  if (container.ports.length > 0) reasons.push('publishes-ports')
  const imageEnv = new Set(judged.image.env)
  const env = (container.env ?? []).filter((entry) => !imageEnv.has(entry))
  return { container, env, instanceName, accountToolInstanceId, mcp: mcpFromAgentopiaLabels(labels, container.ports), reasons }
}
