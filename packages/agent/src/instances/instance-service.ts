// The domain of DTMA: deploy, start, stop and remove tool instances. Docker
// (through the runtime) is the truth for what exists; the store is the truth
// for what should exist. One operation per instance at a time.
import type { DeployToolBody, DeployToolData, DesiredState, InstanceStatus, ToolInstance } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { ContainerInfo, ContainerRuntime } from '../runtime/docker-runtime.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { InstanceRecord, InstanceStore } from '../store/instance-store.ts'
import { containerNameFor } from './container-name.ts'
import { KeyedLock } from './keyed-lock.ts'
import { instanceStatus } from './status.ts'
import { envKeys, specFromDeployRequest, specHash, type InstanceSpec } from './spec.ts'

export interface InstanceServiceOptions {
  runtime: ContainerRuntime
  store: InstanceStore
  logger: Logger
  /** The agent's own listen port: never handed to a tool. */
  agentPort: number
  toolHostIp: string
  stopTimeoutSeconds: number
}

export interface DeployResult {
  created: boolean
  data: DeployToolData
}

export interface StateChange {
  changed: boolean
  state: InstanceStatus
}

function notFound(instanceName: string): DtmaError {
  return new DtmaError('not-found', `Tool instance '${instanceName}' not found or not managed by this DTMA.`)
}

/** A managed container that belongs to this instance name, or undefined. */
function ownedBy(container: ContainerInfo | undefined, instanceName: string): ContainerInfo | undefined {
  if (container === undefined) return undefined
  return container.labels[InstanceLabel.instanceName] === instanceName ? container : undefined
}

export class InstanceService {
  private readonly runtime: ContainerRuntime
  private readonly store: InstanceStore
  private readonly logger: Logger
  private readonly options: InstanceServiceOptions
  private readonly lock = new KeyedLock()

  constructor(options: InstanceServiceOptions) {
    this.options = options
    this.runtime = options.runtime
    this.store = options.store
    this.logger = options.logger
  }

  deploy(body: DeployToolBody): Promise<DeployResult> {
    const spec = specFromDeployRequest(body, this.options.toolHostIp)
    return this.lock.run(spec.instanceName, () => this.deployLocked(spec, body.forcePull === true))
  }

  private async deployLocked(spec: InstanceSpec, forcePull: boolean): Promise<DeployResult> {
    const log = this.logger.child({ instanceName: spec.instanceName, operation: 'deploy' })
    const hash = specHash(spec)
    const containerName = containerNameFor(spec.instanceName)
    this.assertPortsFree(spec)

    const existing = await this.runtime.inspect(containerName)
    if (existing !== undefined) {
      if (ownedBy(existing, spec.instanceName) === undefined) {
        throw new DtmaError('conflict', `Container name '${containerName}' is taken by a container DTMA does not manage`)
      }
      if (existing.labels[InstanceLabel.specHash] !== hash) {
        throw new DtmaError('conflict', `Tool instance '${spec.instanceName}' already exists with a different spec; remove it first`)
      }
      // The same deploy again: converge on running and answer with what exists.
      this.store.put({ instanceName: spec.instanceName, containerName, spec, specHash: hash, desiredState: 'running' })
      if (existing.dockerState !== 'running') await this.runtime.start(existing.id)
      log.info({ containerId: existing.id }, 'deploy repeated: existing container returned')
      return { created: false, data: await this.deployData(spec, existing.id, 'local') }
    }

    const stored = this.store.get(spec.instanceName)
    if (stored !== undefined && stored.specHash !== hash) {
      throw new DtmaError('conflict', `Tool instance '${spec.instanceName}' already exists with a different spec; remove it first`)
    }

    const imageSource = await this.ensureImage(spec.image, forcePull, log)
    // Record the intent first: a crash from here on leaves a store entry the
    // reconciler can finish or roll back, never an unknown container.
    this.store.put({ instanceName: spec.instanceName, containerName, spec, specHash: hash, desiredState: 'running' })
    let containerId: string
    try {
      containerId = await this.runtime.create({
        containerName,
        image: spec.image,
        env: spec.env,
        ports: spec.ports,
        labels: {
          [InstanceLabel.instanceName]: spec.instanceName,
          [InstanceLabel.accountToolInstanceId]: spec.accountToolInstanceId,
          [InstanceLabel.specHash]: hash
        }
      })
    } catch (error) {
      this.store.delete(spec.instanceName)
      throw error
    }
    try {
      await this.runtime.start(containerId)
    } catch (error) {
      // A half-made container would turn the caller's retry into a 409.
      await this.runtime.remove(containerId).catch((removeError: unknown) => log.warn({ err: removeError }, 'cleanup of unstarted container failed'))
      this.store.delete(spec.instanceName)
      throw error
    }
    log.info({ containerId, containerName, image: spec.image, envKeys: envKeys(spec.env), imageSource }, 'tool deployed')
    return { created: true, data: await this.deployData(spec, containerId, imageSource) }
  }

  private async deployData(spec: InstanceSpec, containerId: string, imageSource: DeployToolData['image_source']): Promise<DeployToolData> {
    const container = await this.runtime.inspect(containerId)
    return {
      container_id: containerId,
      instance_name_on_toolbox: spec.instanceName,
      account_tool_instance_id: spec.accountToolInstanceId,
      image: spec.image,
      ports: spec.ports,
      state: instanceStatus(container?.dockerState ?? 'dead', 'running'),
      image_source: imageSource
    }
  }

  /** The agent's own port and ports of other instances are refused up front. */
  private assertPortsFree(spec: InstanceSpec): void {
    for (const port of spec.ports) {
      if (port.host_port === this.options.agentPort && port.protocol === 'tcp') {
        throw new DtmaError('port-conflict', `Host port ${port.host_port} is the DTMA agent's own port`)
      }
    }
    for (const other of this.store.list()) {
      if (other.instanceName === spec.instanceName) continue
      for (const port of spec.ports) {
        const clash = other.spec.ports.find((used) => used.host_port === port.host_port && used.protocol === port.protocol)
        if (clash) {
          throw new DtmaError('port-conflict', `Host port ${port.host_port}/${port.protocol} is already used by tool instance '${other.instanceName}'`)
        }
      }
    }
  }

  /** Pull only when missing (or asked); a failed pull falls back to a local copy. */
  private async ensureImage(image: string, forcePull: boolean, log: Logger): Promise<DeployToolData['image_source']> {
    const present = await this.runtime.hasImage(image)
    if (present && !forcePull) return 'local'
    let lastLogged = 0
    try {
      log.info({ image }, 'pulling image')
      await this.runtime.pullImage(image, (progress) => {
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

  start(instanceName: string): Promise<StateChange> {
    return this.lock.run(instanceName, async () => {
      const container = await this.findContainer(instanceName)
      this.store.setDesiredState(instanceName, 'running')
      if (container.dockerState === 'running') return { changed: false, state: 'running' }
      await this.runtime.start(container.id)
      this.logger.info({ instanceName, operation: 'start', containerId: container.id }, 'tool started')
      return { changed: true, state: await this.currentStatus(container.id, 'running') }
    })
  }

  stop(instanceName: string): Promise<StateChange> {
    return this.lock.run(instanceName, async () => {
      const container = await this.findContainer(instanceName)
      this.store.setDesiredState(instanceName, 'stopped')
      if (!['running', 'restarting', 'paused'].includes(container.dockerState)) return { changed: false, state: 'stopped' }
      await this.runtime.stop(container.id, this.options.stopTimeoutSeconds)
      this.logger.info({ instanceName, operation: 'stop', containerId: container.id }, 'tool stopped')
      return { changed: true, state: await this.currentStatus(container.id, 'stopped') }
    })
  }

  remove(instanceName: string): Promise<void> {
    return this.lock.run(instanceName, async () => {
      const container = ownedBy(await this.runtime.inspect(containerNameFor(instanceName)), instanceName)
      const stored = this.store.get(instanceName)
      if (container === undefined && stored === undefined) throw notFound(instanceName)
      if (container !== undefined) await this.runtime.remove(container.id)
      this.store.delete(instanceName)
      this.logger.info({ instanceName, operation: 'remove', containerId: container?.id }, 'tool removed')
    })
  }

  async list(): Promise<ToolInstance[]> {
    const containers = await this.runtime.listManaged()
    const records = new Map(this.store.list().map((record) => [record.instanceName, record]))
    return containers
      .filter((container) => container.labels[InstanceLabel.instanceName] !== undefined)
      .map((container) => this.toToolInstance(container, records.get(container.labels[InstanceLabel.instanceName] as string)))
      .sort((a, b) => a.instance_name_on_toolbox.localeCompare(b.instance_name_on_toolbox))
  }

  async get(instanceName: string): Promise<ToolInstance> {
    const container = await this.findContainer(instanceName)
    return this.toToolInstance(container, this.store.get(instanceName))
  }

  /** Waits for in-flight operations (graceful shutdown). */
  drain(): Promise<void> {
    return this.lock.drain()
  }

  private async findContainer(instanceName: string): Promise<ContainerInfo> {
    const container = ownedBy(await this.runtime.inspect(containerNameFor(instanceName)), instanceName)
    if (container === undefined) throw notFound(instanceName)
    return container
  }

  private async currentStatus(containerId: string, desiredState: DesiredState): Promise<InstanceStatus> {
    const container = await this.runtime.inspect(containerId)
    return instanceStatus(container?.dockerState ?? 'dead', desiredState)
  }

  private toToolInstance(container: ContainerInfo, stored: InstanceRecord | undefined): ToolInstance {
    const instanceName = container.labels[InstanceLabel.instanceName] as string
    // Without a stored intent, what Docker runs is taken as what is wanted.
    const desiredState = stored?.desiredState ?? (container.dockerState === 'running' ? 'running' : 'stopped')
    return {
      account_tool_instance_id: container.labels[InstanceLabel.accountToolInstanceId] ?? '',
      instance_name_on_toolbox: instanceName,
      container_id: container.id,
      container_name: container.name,
      image: container.image,
      ports: container.ports.length > 0 ? container.ports : (stored?.spec.ports ?? []),
      created: container.created,
      status: instanceStatus(container.dockerState, desiredState),
      desired_state: desiredState,
      docker_status: container.dockerState,
      health: container.health
    }
  }
}
