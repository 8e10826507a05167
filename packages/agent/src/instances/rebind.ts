// The same deploy again after DTMA_TOOL_HOST_IP changed: the request is the
// one the instance was deployed with, but the agent now binds tool ports to
// another address. The caller asked for nothing new, the setting moved; the
// instance keeps its host ports, image, env and limits, and its container is
// made again on the new address (a container's bindings cannot change).
// Until such a deploy, an existing container keeps the binding it has.
import type { Logger } from 'pino'
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts'
import type { InstanceRecord, InstanceStore } from '../store/instance-store.ts'
import type { DeployRequest } from './deploy-request.ts'
import type { InstanceIndex } from './instance-index.ts'
import { launchContainer, startOnFreedPorts } from './launcher.ts'
import { specHash } from './spec.ts'

/** The address the record's ports are bound to, when the request differs from it in that address only. */
export function movedAddress(stored: InstanceRecord | undefined, request: DeployRequest): string | undefined {
  const from = stored?.spec.ports[0]?.host_ip
  const to = request.spec.ports[0]?.host_ip
  if (stored === undefined || from === undefined || to === undefined || from === to) return undefined
  const asBefore = { ...request.spec, ports: request.spec.ports.map((port) => ({ ...port, host_ip: from })) }
  return specHash(asBefore) === stored.specHash ? from : undefined
}

export interface RebindDeps {
  runtime: ContainerRuntime
  store: InstanceStore
  index: InstanceIndex
  stopTimeoutSeconds: number
}

/** Makes the container again on the request's address; on failure the instance is put back as it was. */
export async function rebindInstance(
  deps: RebindDeps,
  stored: InstanceRecord,
  existing: ContainerInfo,
  request: DeployRequest,
  log: Logger
): Promise<{ created: false; imageSource: 'local'; warnings: string[]; reassignedPorts: string[] }> {
  const { runtime, store, index } = deps
  const instanceName = stored.instanceName
  const from = stored.spec.ports[0]?.host_ip
  const to = request.spec.ports[0]?.host_ip as string
  const previous = { instanceName, containerName: stored.containerName, spec: stored.spec, specHash: stored.specHash, desiredState: stored.desiredState }
  const spec = { ...stored.spec, ports: stored.spec.ports.map((port) => ({ ...port, host_ip: to })), ...(request.spec.metadata !== undefined && { metadata: request.spec.metadata }) }
  const record = { instanceName, containerName: stored.containerName, spec, specHash: request.hash, desiredState: 'running' as const }
  // Written first: a crash from here on leaves a record without its
  // container, which the reconciler makes again, on the new address.
  store.put(record)
  await runtime.stop(existing.id, deps.stopTimeoutSeconds)
  await runtime.remove(existing.id)
  let made: string | undefined
  try {
    made = await launchContainer(runtime, record, false, log)
    await startOnFreedPorts(runtime, made, log)
  } catch (error) {
    if (made !== undefined) await runtime.remove(made).catch((removeError: unknown) => log.warn({ err: removeError }, 'cleanup of the unstarted container failed'))
    store.put(previous)
    const again = await launchContainer(runtime, previous, false, log)
    if (previous.desiredState === 'running' || existing.dockerState === 'running') await startOnFreedPorts(runtime, again, log)
    await index.refresh(instanceName)
    throw error
  }
  await index.refresh(instanceName)
  const sentence = `Tool instance '${instanceName}' was made again with its ports bound to ${to} (DTMA_TOOL_HOST_IP) instead of ${from}: the same host ports, image and env`
  log.info({ containerId: made, from, to, ports: spec.ports }, 'deploy repeated after DTMA_TOOL_HOST_IP changed: container made again on the new address')
  return { created: false, imageSource: 'local', warnings: [sentence, ...request.warnings], reassignedPorts: [] }
}
