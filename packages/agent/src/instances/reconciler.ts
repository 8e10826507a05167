// Converges one instance: Docker is the truth for what exists, the store for
// what should. Finishes or rolls back operations a crash interrupted, adopts
// labelled containers the store does not know, and (self-heal) recreates or
// restarts what should run and stops what should not. The caller holds the
// instance's lock.
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { InstanceRecord, InstanceStore, ReplacedContainer } from '../store/instance-store.ts'
import { containerNameFor } from './container-name.ts'
import type { InstanceIndex } from './instance-index.ts'
import { launchContainer, replacedIsThere, startContainer, startOnFreedPorts, stopReplaced } from './launcher.ts'
import { mcpFromLabels } from './mcp-labels.ts'

const DOWN_STATES = new Set(['exited', 'created', 'dead'])

/** What a reconcile repaired, as counted by metrics. */
export type Repair = 'finish-remove' | 'rollback-deploy' | 'finish-deploy' | 'adopt' | 'recreate' | 'restart' | 'stop'

/** Told about reconciles (metrics); the reconciler knows nothing of how they are counted. */
export interface ReconcileObserver {
  reconciled(outcome: 'ok' | 'failed'): void
  repaired(repair: Repair): void
}

export interface ReconcilerOptions {
  runtime: ContainerRuntime
  store: InstanceStore
  index: InstanceIndex
  logger: Logger
  selfHeal: boolean
  stopTimeoutSeconds: number
  observer?: ReconcileObserver
}

/** Whether desired and actual differ, judged from what is already known. */
export function needsReconcile(record: InstanceRecord | undefined, container: ContainerInfo | undefined): boolean {
  if (record === undefined) return container !== undefined
  if (record.pendingOperation !== null || container === undefined) return true
  if (record.desiredState === 'running') return DOWN_STATES.has(container.dockerState)
  return container.dockerState === 'running'
}

export class Reconciler {
  private readonly options: ReconcilerOptions

  constructor(options: ReconcilerOptions) {
    this.options = options
  }

  async reconcile(instanceName: string): Promise<void> {
    const { runtime, store, index, selfHeal } = this.options
    const log = this.options.logger.child({ instanceName, operation: 'reconcile' })
    const record = store.get(instanceName)
    const container = await index.refresh(instanceName)

    if (record?.pendingOperation === 'remove') {
      if (container !== undefined) await runtime.remove(container.id)
      store.delete(instanceName)
      index.delete(instanceName)
      log.info('finished an interrupted remove')
      this.options.observer?.repaired('finish-remove')
      return
    }
    if (record?.pendingOperation === 'deploy') {
      if (container === undefined) {
        store.delete(instanceName)
        if (record.replaces !== null) await this.restoreReplaced(record.replaces, log)
        log.info({ replaced: record.replaces?.containerName }, 'rolled back an interrupted deploy: no container had been made')
        this.options.observer?.repaired('rollback-deploy')
        return
      }
      if (record.replaces !== null) await this.finishReplacement(record, container, log)
      store.setPendingOperation(instanceName, null)
      log.info({ containerId: container.id, replaced: record.replaces?.containerName }, 'finishing an interrupted deploy')
      this.options.observer?.repaired('finish-deploy')
      // A finished replacement left the instance as it should be.
      if (record.replaces !== null) return
    }
    if (record === undefined) {
      if (container !== undefined) this.adopt(container, log)
      return
    }
    if (container === undefined) {
      if (record.desiredState === 'running' && selfHeal) {
        const containerId = await launchContainer(runtime, record, true, log)
        await index.refresh(instanceName)
        log.info({ containerId }, 'recreated a container that was removed behind DTMA')
        this.options.observer?.repaired('recreate')
      } else {
        log.warn({ desiredState: record.desiredState }, 'container is missing')
      }
      return
    }
    if (!selfHeal) return
    if (record.desiredState === 'running' && DOWN_STATES.has(container.dockerState)) {
      const containerId = await startContainer(runtime, record, container.id, log)
      await index.refresh(instanceName)
      log.info({ containerId, was: container.dockerState }, 'restarted a container that should run')
      this.options.observer?.repaired('restart')
    } else if (record.desiredState === 'stopped' && container.dockerState === 'running') {
      await runtime.stop(container.id, this.options.stopTimeoutSeconds)
      await index.refresh(instanceName)
      log.info({ containerId: container.id }, 'stopped a container that should not run')
      this.options.observer?.repaired('stop')
    }
  }

  /** The container an interrupted deploy replaces, as it was before: started
   *  again if it ran (a crash may have come after its stop). */
  private async restoreReplaced(replaced: ReplacedContainer, log: Logger): Promise<void> {
    const old = await this.options.runtime.inspect(replaced.containerId)
    if (old === undefined || !replaced.wasRunning || old.dockerState === 'running') return
    await this.options.runtime.start(old.id)
    log.info({ containerId: old.id, containerName: old.name }, 'started the replaced container again')
  }

  /** An interrupted replacement whose new container exists: the old one
   *  stops (it holds the host ports), the new one starts if it should run,
   *  the old one goes. If the new one cannot start, it goes and the old one
   *  runs again as it was: never two, never none. An old one that is gone
   *  (the dying agent's last call removed it) leaves nothing to go back to:
   *  the new one stays, journalled, and its start is tried again. */
  private async finishReplacement(record: InstanceRecord, container: ContainerInfo, log: Logger): Promise<void> {
    const { runtime } = this.options
    const replaced = record.replaces as ReplacedContainer
    const old = await runtime.inspect(replaced.containerId)
    try {
      if (old !== undefined && old.dockerState !== 'exited' && old.dockerState !== 'created') await stopReplaced(runtime, old.id, this.options.stopTimeoutSeconds)
      if (record.desiredState === 'running' && container.dockerState !== 'running') await startOnFreedPorts(runtime, container.id, log)
    } catch (error) {
      if (!(await replacedIsThere(runtime, replaced.containerId))) {
        log.warn({ err: error, containerId: container.id, replaced: replaced.containerName }, 'the replaced container is gone: the new one stays and its start is tried again')
        throw error
      }
      await runtime.remove(container.id)
      this.options.store.delete(record.instanceName)
      await this.options.index.refresh(record.instanceName)
      await this.restoreReplaced(replaced, log)
      throw error
    }
    if (old !== undefined) await runtime.remove(old.id)
    await this.options.index.refresh(record.instanceName)
    log.info({ containerId: container.id, replaced: replaced.containerName }, 'finished an interrupted replacement: the replaced container is gone')
  }

  /** A labelled container the store does not know (lost or deleted store):
   *  its spec is read back from Docker (metadata, which is on no label, is
   *  lost with the store); what it does now is what is wanted. */
  private adopt(container: ContainerInfo, log: Logger): void {
    const instanceName = container.labels[InstanceLabel.instanceName]
    const specHash = container.labels[InstanceLabel.specHash]
    if (instanceName === undefined || specHash === undefined || container.env === undefined) {
      throw new DtmaError('docker-failed', `container ${container.id} lacks the labels DTMA needs to adopt it`)
    }
    const mcp = mcpFromLabels(container.labels)
    const takenOverFrom = container.labels[InstanceLabel.takenOverFrom]
    this.options.store.put({
      instanceName,
      containerName: containerNameFor(instanceName),
      spec: {
        instanceName,
        accountToolInstanceId: container.labels[InstanceLabel.accountToolInstanceId] ?? '',
        image: container.image,
        env: container.env,
        ports: container.ports,
        ...(container.limits !== undefined && { limits: container.limits }),
        ...(mcp !== undefined && { mcp }),
        ...(takenOverFrom !== undefined && { takenOverFrom })
      },
      specHash,
      desiredState: container.dockerState === 'running' || container.dockerState === 'restarting' ? 'running' : 'stopped'
    })
    log.info({ containerId: container.id, dockerState: container.dockerState }, 'adopted a labelled container the store did not know')
    this.options.observer?.repaired('adopt')
  }
}
