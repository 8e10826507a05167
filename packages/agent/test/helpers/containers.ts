// Counting containers on the shared engine the way a duplicate would show:
// by DTMA's instance label (any agent scope) and by a host port (any
// container bound to it in its config, running or not: a stopped duplicate
// still claims the port when it starts again).
import type Docker from 'dockerode'
import { docker } from './agent.ts'
import { removePolicyChains } from './netpolicy-cleanup.ts'

/** Containers labelled as this instance's by any DTMA agent. */
export function labelledWith(instanceName: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${instanceName}`] } })
}

/** Docker's 404 (the container is gone) as undefined; every other failure thrown. */
export function notFoundAsUndefined(error: unknown): undefined {
  if ((error as { statusCode?: number }).statusCode === 404) return undefined
  throw error
}

/** Containers bound to this host port, among those created since `sinceUnix` (the test's own). */
export async function onHostPort(hostPort: number, sinceUnix: number): Promise<Docker.ContainerInspectInfo[]> {
  const recent = (await docker.listContainers({ all: true })).filter((container) => container.Created >= sinceUnix)
  // One removed since the listing is not on the port; any other failure is an error, never a zero.
  const inspected = await Promise.all(recent.map((container) => docker.getContainer(container.Id).inspect().catch(notFoundAsUndefined)))
  return inspected.filter(
    (info): info is Docker.ContainerInspectInfo =>
      info !== undefined && Object.values(info.HostConfig.PortBindings ?? {}).some((bindings) => ((bindings ?? []) as Array<{ HostPort?: string }>).some((binding) => Number(binding.HostPort) === hostPort))
  )
}

export async function countOnPort(hostPort: number, sinceUnix: number): Promise<number> {
  return (await onHostPort(hostPort, sinceUnix)).length
}

/** Removes every container of one agent scope (a test's agents, whatever they made or remade). */
export async function removeScope(scope: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scope}`] } })
  await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
  await removePolicyChains(scope)
}
