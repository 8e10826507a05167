// The tools' network as the host sees it, for the network policy: its
// bridge interface (where the host's firewall meets the tools) and subnets.
import type Docker from 'dockerode'
import type { ToolNetworkInfo } from '../types.ts'
import { toolNetworkId } from './containers.ts'
import { translateDockerError } from './errors.ts'

/** Docker names a user-defined bridge br-<12 characters of its id> unless the network's options name it. */
export function bridgeName(id: string, options: Record<string, string> | undefined): string {
  return options?.['com.docker.network.bridge.name'] ?? `br-${id.slice(0, 12)}`
}

export async function toolNetworkInfo(docker: Docker, name: string): Promise<ToolNetworkInfo> {
  try {
    const id = await toolNetworkId(docker, name)
    const info = (await docker.getNetwork(id).inspect()) as { Id: string; Options?: Record<string, string>; IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> } }
    const subnets = (info.IPAM?.Config ?? []).flatMap((config) => (config.Subnet === undefined ? [] : [{ subnet: config.Subnet, ...(config.Gateway !== undefined && { gateway: config.Gateway }) }]))
    return { id: info.Id, bridge: bridgeName(info.Id, info.Options), subnets }
  } catch (error) {
    throw translateDockerError(error, `inspect network ${name}`)
  }
}
