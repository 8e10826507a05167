// The deploy command, run under the instance's lock: the same request again
// converges on what exists (made again on a new address when only
// DTMA_TOOL_HOST_IP changed: rebind.ts); another spec under the name is a conflict; a new
// instance gets its image (pulled only when missing or asked), host ports
// from the port policy, a journalled record, and its container.
import type { Logger } from 'pino'
import { DtmaError, isDtmaError } from '../errors.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { ContainerRuntime } from '../runtime/types.ts'
import type { InstanceStore } from '../store/instance-store.ts'
import { containerNameFor } from './container-name.ts'
import type { DeployRequest } from './deploy-request.ts'
import { ownedBy, type InstanceIndex } from './instance-index.ts'
import { launchContainer } from './launcher.ts'
import { movedAddress, rebindInstance } from './rebind.ts'
import type { LegacyTakeover } from './legacy-port.ts'
import type { PortAllocator } from './port-allocator.ts'
import type { PullProgressHub } from './pull-progress.ts'
import { envKeys } from './spec.ts'

export type ImageSource = 'local' | 'pulled' | 'local-after-failed-pull'

export interface DeployOutcome {
  created: boolean
  imageSource: ImageSource
  /** What was not done as asked: ignored keys, reassigned ports, lowered limits. */
  warnings: string[]
  /** Asked host ports that were replaced, one sentence each (also among the warnings). */
  reassignedPorts: string[]
  /** One sentence when an earlier agent's container became this instance. */
  takenOver?: string
}

export interface DeployDeps {
  runtime: ContainerRuntime
  store: InstanceStore
  index: InstanceIndex
  ports: PortAllocator
  pulls: PullProgressHub
  logger: Logger
  /** An earlier agent's container of the same name is taken over, never duplicated. */
  legacy?: LegacyTakeover
  /** How long a container made again on a new address gets to stop. */
  stopTimeoutSeconds: number
}

/** Tries of a deploy whose range-picked host port turns out taken outside DTMA. */
const PORT_ATTEMPTS = 10

/** The host port of the range that Docker found taken, when a deploy failed for that. */
function takenHostPort(error: unknown, fromRange: ReadonlySet<number>): { host_port: number; protocol: string } | undefined {
  if (!isDtmaError(error, 'port-conflict')) return undefined
  // Docker names the address: "Bind for 0.0.0.0:30001 failed: port is already allocated".
  const hostPort = [...error.message.matchAll(/:(\d{1,5})\b/g)].map((match) => Number(match[1])).find((port) => fromRange.has(port))
  return hostPort === undefined ? undefined : { host_port: hostPort, protocol: /\budp\b/.test(error.message) ? 'udp' : 'tcp' }
}

export async function deployInstance(deps: DeployDeps, request: DeployRequest): Promise<DeployOutcome> {
  const { runtime, store, index, ports } = deps
  const { spec: asked, hash } = request
  const instanceName = asked.instanceName
  const log = deps.logger.child({ instanceName, operation: 'deploy' })
  const containerName = containerNameFor(instanceName)

  const existing = await runtime.inspect(containerName)
  if (existing !== undefined && ownedBy(existing, instanceName) === undefined) {
    throw new DtmaError('conflict', `Container name '${containerName}' is taken by a container DTMA does not manage`)
  }
  const stored = store.get(instanceName)
  const takenOver = await deps.legacy?.deploy(request, { record: stored, container: existing })
  if (takenOver !== undefined) return takenOver
  // The store's hash first: a deploy that completed a take-over made the
  // request's hash the instance's, while the container keeps the label it
  // was made with. Without a record (a lost store), the label.
  const knownHash = stored?.specHash ?? existing?.labels[InstanceLabel.specHash]
  if (knownHash !== undefined && knownHash !== hash) {
    // The same request after DTMA_TOOL_HOST_IP changed: made again on the new address.
    if (stored !== undefined && existing !== undefined && movedAddress(stored, request) !== undefined) return rebindInstance(deps, stored, existing, request, log)
    throw new DtmaError('conflict', `Tool instance '${instanceName}' already exists with a different spec; remove it first`)
  }
  if (existing !== undefined) {
    // The same deploy again: converge on running and answer with what exists,
    // on the ports (and, for one taken over, the env) it holds.
    const spec = stored?.spec ?? { ...asked, ports: existing.ports }
    store.put({ instanceName, containerName, spec: { ...spec, ...(asked.metadata !== undefined && { metadata: asked.metadata }) }, specHash: hash, desiredState: 'running' })
    if (existing.dockerState !== 'running') await runtime.start(existing.id)
    await index.refresh(instanceName)
    log.info({ containerId: existing.id }, 'deploy repeated: existing container returned')
    return { created: false, imageSource: 'local', warnings: request.warnings, reassignedPorts: [] }
  }

  const imageSource = await ensureImage(deps, instanceName, asked.image, request.forcePull, log)
  for (let attempt = 1; ; attempt++) {
    // Allocated and journalled in one synchronous step: no other deploy can
    // take these ports, and a crash from here on leaves a record the
    // reconciler finishes (container made) or rolls back (none made).
    const allocation = ports.allocate(instanceName, asked.ports)
    const record = { instanceName, containerName, spec: { ...asked, ports: allocation.ports }, specHash: hash, desiredState: 'running' as const }
    store.put({ ...record, pendingOperation: 'deploy' })
    try {
      const containerId = await launchContainer(runtime, record, true, log)
      store.setPendingOperation(instanceName, null)
      await index.refresh(instanceName)
      log.info({ containerId, containerName, image: asked.image, envKeys: envKeys(asked.env), imageSource, ports: allocation.ports }, 'tool deployed')
      return { created: true, imageSource, warnings: [...allocation.reassigned, ...request.warnings], reassignedPorts: allocation.reassigned }
    } catch (error) {
      store.delete(instanceName)
      const outside = takenHostPort(error, allocation.fromRange)
      if (outside === undefined || attempt === PORT_ATTEMPTS) throw error
      // A port of the range that something outside DTMA holds: try another.
      ports.heldOutsideDtma(outside.host_port, outside.protocol)
      log.info({ hostPort: outside.host_port, attempt }, 'host port of the tool range is taken outside DTMA; picking another')
    }
  }
}

/** Pull only when missing (or asked); a failed pull falls back to a local copy. */
async function ensureImage(deps: DeployDeps, instanceName: string, image: string, forcePull: boolean, log: Logger): Promise<ImageSource> {
  const present = await deps.runtime.hasImage(image)
  if (present && !forcePull) return 'local'
  let lastLogged = 0
  const announce = deps.pulls.announcer(instanceName, image)
  try {
    log.info({ image }, 'pulling image')
    await deps.runtime.pullImage(image, (progress) => {
      announce(progress)
      const now = Date.now()
      if (now - lastLogged < 1000) return
      lastLogged = now
      log.info({ image, pull: progress }, 'pull progress')
    })
    log.info({ image }, 'image pulled')
    return 'pulled'
  } catch (error) {
    if (!present) throw error
    log.warn({ image, err: error }, 'pull failed; deploying the local copy')
    return 'local-after-failed-pull'
  }
}
