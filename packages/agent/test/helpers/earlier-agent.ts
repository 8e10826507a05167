// A toolbox as the earlier agent left it: tool containers named exactly
// after their instance, unlabelled, restart policy unless-stopped, Env and
// PortBindings from the deploy's override; or labelled agentopia.mcp.* by its
// MCP routes. Made here with dockerode as the earlier agent made them, and
// removed (with whatever DTMA made of them) when the test ends.
import { randomBytes, randomUUID } from 'node:crypto'
import { docker, removeInstances, TEST_IMAGE } from './agent.ts'

interface TapLike {
  teardown(fn: () => unknown): void
}

export interface EarlierTool {
  name: string
  id: string
  hostPort: number
  accountToolInstanceId?: string
  instanceName: string
}

/** A Docker-valid name, as only such names ever got a container from the earlier agent. */
export function legacyName(label: string): string {
  return `${label}-${Date.now()}-${randomBytes(3).toString('hex')}`
}

export async function earlierAgentTool(
  t: TapLike,
  options: { name: string; hostPort: number; env?: string[]; image?: string; mcpLabels?: { instanceName: string; transport?: string }; restartPolicy?: string; start?: boolean }
): Promise<EarlierTool> {
  const accountToolInstanceId = options.mcpLabels === undefined ? undefined : randomUUID()
  const labels: Record<string, string> =
    options.mcpLabels === undefined
      ? {}
      : {
          'agentopia.mcp.server': 'true',
          'agentopia.mcp.instance_name': options.mcpLabels.instanceName,
          'agentopia.mcp.account_tool_instance_id': accountToolInstanceId as string,
          'agentopia.mcp.transport_type': options.mcpLabels.transport ?? 'http',
          'agentopia.mcp.endpoint_path': '/mcp',
          'agentopia.mcp.group_id': randomUUID()
        }
  const instanceName = options.mcpLabels?.instanceName ?? options.name
  t.teardown(async () => {
    await docker.getContainer(options.name).remove({ force: true }).catch(() => undefined)
    await removeInstances([instanceName])
  })
  const container = await docker.createContainer({
    name: options.name,
    Image: options.image ?? TEST_IMAGE,
    Env: options.env ?? [],
    Labels: labels,
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(options.hostPort) }] }, RestartPolicy: { Name: options.restartPolicy ?? 'unless-stopped' } }
  })
  if (options.start !== false) await container.start()
  return { name: options.name, id: container.id, hostPort: options.hostPort, instanceName, ...(accountToolInstanceId !== undefined && { accountToolInstanceId }) }
}

/** Containers that are this instance's: the earlier agent's by its name, and DTMA's by its label. */
export async function containersOf(instanceName: string, legacyContainerName = instanceName): Promise<string[]> {
  const all = await docker.listContainers({ all: true })
  return all.filter((container) => container.Names.includes(`/${legacyContainerName}`) || container.Labels['dtma.instance-name'] === instanceName).map((container) => container.Id)
}
