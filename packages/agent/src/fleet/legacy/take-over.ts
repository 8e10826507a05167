// One take-over: an earlier agent's container becomes an instance of this
// agent. Docker labels cannot be changed, so the container is made again
// under DTMA's name, labels and sandbox from the old one's image, env and
// host ports: create the new one, stop the old, start the new, remove the
// old. If the new one cannot start, the old one starts again and the error
// is answered: nothing is lost. The record is journalled first, so a crash
// in between is finished or rolled back by the reconciler like a deploy.
// What a tool wrote inside its own container's filesystem is not carried
// over (the earlier agent gave its tools no volumes). The caller holds the
// instance's lock.
import type { DesiredState, McpSettings } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../../errors.ts'
import { containerNameFor } from '../../instances/container-name.ts'
import { launchContainer } from '../../instances/launcher.ts'
import type { LegacyDomain } from '../../instances/legacy-port.ts'
import { envKeys, specHash } from '../../instances/spec.ts'
import type { InstanceSpec } from '../../model/instance-spec.ts'
import type { LegacyContainer } from './earlier-agent.ts'

export interface TakeOverWish {
  instanceName: string
  /** '' until a deploy brings it. */
  accountToolInstanceId: string
  desiredState: DesiredState
  /** The hash a deploy of the same request again must find; default the spec's own. */
  requestHash?: string
  mcp?: McpSettings
  /** Set when no deploy asked for the take-over: the first deploy completes it. */
  takenOverFrom?: string
}

/** The spec of the instance the old container becomes: its image, env and
 *  host ports kept (bound to the agent's tool address), the sandbox's limits. */
export function takenOverSpec(domain: LegacyDomain, legacy: LegacyContainer, wish: TakeOverWish): InstanceSpec {
  const { container } = legacy
  const mcp = wish.mcp ?? legacy.mcp
  return {
    instanceName: wish.instanceName,
    accountToolInstanceId: wish.accountToolInstanceId,
    image: container.image,
    env: legacy.env,
    ports: container.ports.map((port) => ({ ...port, host_ip: domain.toolHostIp })),
    ...(mcp !== undefined && { mcp }),
    ...(wish.takenOverFrom !== undefined && { takenOverFrom: wish.takenOverFrom })
  }
}

/** A host port the old container holds that another instance's record holds too. */
function assertPortsFree(domain: LegacyDomain, spec: InstanceSpec): void {
  for (const record of domain.store.list()) {
    if (record.instanceName === spec.instanceName) continue
    const clash = spec.ports.find((port) => record.spec.ports.some((held) => held.host_port === port.host_port && held.protocol === port.protocol))
    if (clash !== undefined) {
      throw new DtmaError('port-conflict', `The earlier agent's container '${spec.instanceName}' holds host port ${clash.host_port}/${clash.protocol}, which tool instance '${record.instanceName}' holds too; remove one of them first`)
    }
  }
}

/** Takes the old container over; answers the new container's id. */
export async function takeOver(domain: LegacyDomain, legacy: LegacyContainer, wish: TakeOverWish, log: Logger): Promise<string> {
  const { runtime, store, index } = domain
  const old = legacy.container
  const spec = takenOverSpec(domain, legacy, wish)
  assertPortsFree(domain, spec)
  const record = { instanceName: spec.instanceName, containerName: containerNameFor(spec.instanceName), spec, specHash: wish.requestHash ?? specHash(spec), desiredState: wish.desiredState }
  store.put({ ...record, pendingOperation: 'deploy' })
  let newId: string | undefined
  try {
    newId = await launchContainer(runtime, record, false, log)
    await runtime.stop(old.id, domain.stopTimeoutSeconds)
    if (wish.desiredState === 'running') await runtime.start(newId)
  } catch (error) {
    // The old one keeps its host ports until it is removed: it runs again as it was.
    if (newId !== undefined) await runtime.remove(newId).catch((removeError: unknown) => log.warn({ err: removeError }, 'cleanup of the unstarted container failed'))
    if (old.dockerState === 'running') {
      await runtime.start(old.id).catch((startError: unknown) => log.error({ err: startError, containerId: old.id }, "the earlier agent's container did not start again"))
    }
    store.delete(spec.instanceName)
    await index.refresh(spec.instanceName)
    throw error
  }
  await runtime.remove(old.id)
  store.setPendingOperation(spec.instanceName, null)
  await index.refresh(spec.instanceName)
  log.info(
    { containerId: newId, previousContainer: old.name, previousContainerId: old.id, image: spec.image, envKeys: envKeys(spec.env), ports: spec.ports, reasons: legacy.reasons },
    "took over an earlier agent's container"
  )
  return newId
}
