// One take-over: an earlier agent's container becomes an instance of this
// agent. Docker labels cannot be changed, so the container is made again
// under DTMA's name, labels and sandbox from the old one's image, env and
// host ports: create the new one while the old one stops, start the new,
// remove the old. If the new one cannot start, the old one starts again and
// the error is answered: nothing is lost. An old one gone under the take-over
// (a stop that finds it removed is a stop) leaves the new one, which stays,
// journalled, for the reconciler to start: never none. The record is
// journalled first, naming the old container, so a crash at any step is
// finished (new one made: the old one stops and goes) or rolled back (none
// made: the old one runs as it was) by the reconciler.
// What a tool wrote inside its own container's filesystem is not carried
// over (the earlier agent gave its tools no volumes). The caller holds the
// instance's lock.
import type { DesiredState, McpSettings } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../../errors.ts'
import { containerNameFor } from '../../instances/container-name.ts'
import { launchContainer, replacedIsThere, startOnFreedPorts, stopReplaced } from '../../instances/launcher.ts'
import type { LegacyDomain, TakeOverTrigger } from '../../instances/legacy-port.ts'
import { envKeys, specHash } from '../../instances/spec.ts'
import type { InstanceSpec } from '../../model/instance-spec.ts'
import type { InstanceRecord } from '../../store/instance-store.ts'
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
  trigger: TakeOverTrigger
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

type TakeOverRecord = Pick<InstanceRecord, 'instanceName' | 'containerName' | 'spec' | 'specHash' | 'desiredState'>

/** Journals the take-over before any Docker call: the instance's record,
 *  pending, naming the old container, so a crash at any step is finished or
 *  rolled back at the next start (see the reconciler). Throws, journalling
 *  nothing, when another instance holds one of its host ports. */
export function journalTakeOver(domain: LegacyDomain, legacy: LegacyContainer, wish: TakeOverWish): TakeOverRecord {
  const old = legacy.container
  const spec = takenOverSpec(domain, legacy, wish)
  assertPortsFree(domain, spec)
  const record = { instanceName: spec.instanceName, containerName: containerNameFor(spec.instanceName), spec, specHash: wish.requestHash ?? specHash(spec), desiredState: wish.desiredState }
  const wasRunning = old.dockerState === 'running' || old.dockerState === 'restarting'
  domain.store.put({ ...record, pendingOperation: 'deploy', replaces: { containerId: old.id, containerName: old.name, wasRunning } })
  return record
}

/** Takes the old container over; answers the new container's id. */
export async function takeOver(domain: LegacyDomain, legacy: LegacyContainer, wish: TakeOverWish, log: Logger): Promise<string> {
  return runTakeOver(domain, legacy, journalTakeOver(domain, legacy, wish), wish.trigger, log)
}

/** The steps of a journalled take-over, timed: create the new container
 *  while the old one stops (SIGTERM, then SIGKILL after the stop timeout),
 *  start the new one, remove the old one. */
export async function runTakeOver(domain: LegacyDomain, legacy: LegacyContainer, record: TakeOverRecord, trigger: TakeOverTrigger, log: Logger): Promise<string> {
  const started = performance.now()
  const seconds = () => (performance.now() - started) / 1000
  log.info({ previousContainer: legacy.container.name, previousContainerId: legacy.container.id, trigger }, "taking over an earlier agent's container")
  try {
    const newId = await replace(domain, legacy, record, log)
    domain.observer?.tookOver(trigger, 'ok', seconds())
    log.info(
      { containerId: newId, previousContainer: legacy.container.name, previousContainerId: legacy.container.id, image: record.spec.image, envKeys: envKeys(record.spec.env), ports: record.spec.ports, reasons: legacy.reasons, trigger, durationMs: Math.round(seconds() * 1000) },
      "took over an earlier agent's container"
    )
    return newId
  } catch (error) {
    domain.observer?.tookOver(trigger, 'failed', seconds())
    log.warn({ err: error, previousContainer: legacy.container.name, trigger, durationMs: Math.round(seconds() * 1000) }, "the take-over of an earlier agent's container failed; it runs as it was")
    throw error
  }
}

async function replace(domain: LegacyDomain, legacy: LegacyContainer, record: TakeOverRecord, log: Logger): Promise<string> {
  const { runtime, store, index } = domain
  const old = legacy.container
  let newId: string | undefined
  try {
    // The new container binds its host ports only when it starts: it is made
    // while the old one stops, and both are waited for before anything else.
    const [made, stopped] = await Promise.allSettled([launchContainer(runtime, record, false, log), stopReplaced(runtime, old.id, domain.stopTimeoutSeconds)])
    if (made.status === 'fulfilled') newId = made.value
    if (made.status === 'rejected') throw made.reason
    if (stopped.status === 'rejected') throw stopped.reason
    if (record.desiredState === 'running') await startOnFreedPorts(runtime, newId as string, log)
  } catch (error) {
    // An old one that is gone leaves the new one as the only one: it stays,
    // journalled, and the reconciler finishes the take-over (never none).
    if (newId !== undefined && !(await replacedIsThere(runtime, old.id).catch(() => true))) {
      log.warn({ err: error, containerId: newId, previousContainer: old.name }, "the earlier agent's container is gone: the new one stays, and the reconciler finishes the take-over")
      await index.refresh(record.instanceName)
      throw error
    }
    // The old one keeps its host ports until it is removed: it runs again as it was.
    if (newId !== undefined) await runtime.remove(newId).catch((removeError: unknown) => log.warn({ err: removeError }, 'cleanup of the unstarted container failed'))
    if (old.dockerState === 'running') {
      await runtime.start(old.id).catch((startError: unknown) => log.error({ err: startError, containerId: old.id }, "the earlier agent's container did not start again"))
    }
    store.delete(record.instanceName)
    await index.refresh(record.instanceName)
    throw error
  }
  await runtime.remove(old.id)
  store.setPendingOperation(record.instanceName, null)
  await index.refresh(record.instanceName)
  return newId as string
}
