// What the earlier agent left on a toolbox, and how to tell its tool
// containers from everything else, on positive evidence only. It named a
// tool's container exactly after the instance (only names Docker accepts ever
// got one), set no labels and restart policy `unless-stopped`, and gave it
// nothing but its image, env and host ports: no mounts, no command, user,
// entrypoint or working dir of its own, no privileges, the default network
// (its MCP group routes used `agentopia-mcp*` networks and labelled their
// containers `agentopia.mcp.*`). It ran itself as `dtma_manager`. A take-over
// carries over exactly what it gave (image, env, host ports), so a container
// with anything more is refused with a sentence, whatever its labels say.
// Pure: it judges containers as inspected, and a container it does not accept
// is never touched.
import type { LegacyReason, McpSettings } from '@dtma/contract'
import { LABEL_PREFIX } from '../../runtime/labels.ts'
import type { ContainerInfo, ImageDefaults, ProcessSettings } from '../../runtime/types.ts'

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
/** Networks the earlier agent put tools on: Docker's default bridge, its MCP group's own. */
const EARLIER_NETWORK = /^(default|bridge|agentopia-mcp[a-zA-Z0-9_.-]*)$/

/** A container that is not DTMA's, as judged. */
export interface JudgedContainer {
  container: ContainerInfo
  /** Its environment without the entries its image sets: what the earlier agent gave it. */
  env: string[]
  instanceName: string
  /** From its agentopia.mcp label; undefined: a deploy or an explicit adopt brings it. */
  accountToolInstanceId: string | undefined
  mcp: McpSettings | undefined
  /** The evidence found that it is the earlier agent's. */
  reasons: LegacyReason[]
  /** undefined: the evidence holds, a call that names it (or an adopt) takes
   *  it over. Otherwise why it is never touched, one sentence. */
  whyNot: string | undefined
}

/** A container of an earlier agent, on evidence: what a take-over acts on. */
export type LegacyContainer = JudgedContainer & { whyNot: undefined }

/** Whether an instance name can be a Docker name (the earlier agent's only containers). */
export function isDockerName(name: string): boolean {
  return DOCKER_NAME.test(name) && name.length <= 128
}

/** Whether a container carries DTMA's labels (of any scope): never judged, never listed. */
export function isDtmas(container: ContainerInfo): boolean {
  return Object.keys(container.labels).some((key) => key.startsWith(LABEL_PREFIX))
}

/** Why a container is never an earlier agent's tool: an agent or its helper,
 *  or Compose's. Undefined: it may be one. */
export function neverLegacy(container: ContainerInfo, agentPort: number): string | undefined {
  if (isDtmas(container)) return "it carries DTMA's labels"
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
  /** What the container's image sets: Docker copies its labels, env and process onto the container, and they are not the container's own. */
  image: ImageDefaults
}

const PROCESS_FIELDS: Array<[keyof ProcessSettings, string]> = [
  ['cmd', 'command'],
  ['entrypoint', 'entrypoint'],
  ['user', 'user'],
  ['workingDir', 'working directory']
]

/** What the container has beyond what a take-over carries over (image, env,
 *  host ports), as a sentence; undefined when it has nothing more. */
function beyondCarryOver(container: ContainerInfo, image: ImageDefaults): string | undefined {
  const mounts = container.mounts ?? []
  if (mounts.length > 0) {
    const first = mounts[0] as (typeof mounts)[0]
    const more = mounts.length > 1 ? ` and ${mounts.length - 1} more` : ''
    return `it mounts ${first.type} ${first.source} at ${first.destination}${more}: the earlier agent gave its tools no mounts, and a take-over would lose them`
  }
  if (image.process === undefined) return `its image ${container.image} is gone, so what it runs cannot be told from what its image runs`
  const own = container.process
  if (own === undefined) return 'what it runs is unknown'
  for (const [field, words] of PROCESS_FIELDS) {
    if (JSON.stringify(own[field]) !== JSON.stringify(image.process[field])) {
      return `it runs with a ${words} of its own, not its image's: the earlier agent never set one, and a take-over would not carry it over`
    }
  }
  if (container.privileged === true) return 'it runs privileged: the earlier agent never did, and the sandbox does not allow it'
  if (container.networkMode !== undefined && !EARLIER_NETWORK.test(container.networkMode)) {
    return `it runs on network '${container.networkMode}', where the earlier agent never put a tool`
  }
  return undefined
}

/** A container that is not DTMA's, judged: the earlier agent's on evidence,
 *  or why not. Undefined for DTMA's own containers (of any scope). */
export function judgeContainer(container: ContainerInfo, judged: Judged): JudgedContainer | undefined {
  if (isDtmas(container)) return undefined
  const { labels } = container
  const imageEnv = new Set(judged.image.env)
  const base = {
    container,
    env: (container.env ?? []).filter((entry) => !imageEnv.has(entry)),
    instanceName: container.name,
    accountToolInstanceId: undefined as string | undefined,
    mcp: mcpFromAgentopiaLabels(labels, container.ports),
    reasons: [] as LegacyReason[]
  }
  const refused = (whyNot: string): JudgedContainer => ({ ...base, whyNot })
  const never = neverLegacy(container, judged.agentPort)
  if (never !== undefined) return refused(never)
  if (labels[AgentopiaMcpLabel.server] === 'true' && (labels[AgentopiaMcpLabel.accountToolInstanceId] ?? '') !== '') {
    base.reasons.push('agentopia-mcp-labels')
    base.instanceName = labels[AgentopiaMcpLabel.instanceName] || container.name
    base.accountToolInstanceId = labels[AgentopiaMcpLabel.accountToolInstanceId]
  } else {
    const ownLabels = Object.keys(labels).filter((key) => judged.image.labels[key] !== labels[key])
    if (ownLabels.length > 0) return refused(`it carries labels of its own (${ownLabels.slice(0, 5).join(', ')}), and the earlier agent set none`)
    base.reasons.push('unlabelled')
    if (container.restartPolicy !== 'unless-stopped') return refused(`its restart policy is '${container.restartPolicy ?? 'no'}', and the earlier agent always set 'unless-stopped'`)
    base.reasons.push('restart-unless-stopped')
    if (!isDockerName(container.name)) return refused('its name is not one an instance can have')
    base.reasons.push('named-like-an-instance')
  }
  const beyond = beyondCarryOver(container, judged.image)
  if (beyond !== undefined) return refused(beyond)
  base.reasons.push('no-mounts', 'image-process')
  if (container.ports.length > 0) base.reasons.push('publishes-ports')
  return { ...base, whyNot: undefined }
}

/** An inspected container as an earlier agent's, on evidence, or undefined. */
export function asLegacy(container: ContainerInfo, judged: Judged): LegacyContainer | undefined {
  const verdict = judgeContainer(container, judged)
  return verdict?.whyNot === undefined ? (verdict as LegacyContainer | undefined) : undefined
}
