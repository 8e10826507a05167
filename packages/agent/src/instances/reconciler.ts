// Converges one instance: Docker is the truth for what exists, the store for
// what should. Finishes or rolls back operations a crash interrupted, adopts
// labelled containers the store does not know, and (self-heal) recreates or
// restarts what should run and stops what should not. The caller holds the
// instance's lock.
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { InstanceRecord, InstanceStore } from '../store/instance-store.ts'
import { containerNameFor } from './container-name.ts'
import type { InstanceIndex } from './instance-index.ts'
import { launchContainer, startContainer } from './launcher.ts'
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
        log.info('rolled back an interrupted deploy: no container had been made')
        this.options.observer?.repaired('rollback-deploy')
        return
      }
      store.setPendingOperation(instanceName, null)
      log.info({ containerId: container.id }, 'finishing an interrupted deploy')
      this.options.observer?.repaired('finish-deploy')
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
