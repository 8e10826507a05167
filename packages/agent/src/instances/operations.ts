// The commands on instances, each under the instance's lock (one operation
// per instance at a time, different instances in parallel): deploy, start,
// stop, restart, remove; and log reads, which never wait for the lock.
// Docker (through the runtime and the index) is the truth for what exists,
// the store for what should; every operation publishes the view it leaves.
import type { Readable } from 'node:stream'
import { instanceNotFoundMessage, type DesiredState, type InstanceStatus, type LogsQuery } from '@dtma/contract'
import { DtmaError, isDtmaError } from '../errors.ts'
import type { ContainerInfo } from '../runtime/types.ts'
import type { InstanceRecord } from '../store/instance-store.ts'
import { deployInstance, type DeployDeps, type DeployOutcome } from './deploy.ts'
import type { DeployRequest } from './deploy-request.ts'
import { KeyedLock } from './keyed-lock.ts'
import { launchContainer, startContainer } from './launcher.ts'
import type { LifecycleAction } from './legacy-port.ts'
import { instanceStatus } from './status.ts'
import { isGone } from './view.ts'

export interface StateChange {
  changed: boolean
  state: InstanceStatus
}

export interface OperationDeps extends DeployDeps {
  /** Throws when Docker cannot serve operations now. */
  assertServing(): void
  /** Publishes an instance's view after an operation on it. */
  publish(instanceName: string): void
  /** An operation found Docker unreachable before the event stream did. */
  reportUnavailable(error: DtmaError): void
}

/** Log reads: the default and the most a caller gets without follow. */
const DEFAULT_LOG_TAIL = 100
const MAX_LOG_BYTES = 4 * 1024 * 1024

export function notFound(instanceName: string): DtmaError {
  return new DtmaError('not-found', instanceNotFoundMessage(instanceName))
}

export class InstanceOperations {
  private readonly lock = new KeyedLock()

  constructor(private readonly deps: OperationDeps) {}

  deploy(request: DeployRequest): Promise<DeployOutcome> {
    return this.operate(request.spec.instanceName, () => deployInstance(this.deps, request))
  }

  start(instanceName: string): Promise<StateChange> {
    return this.operate(instanceName, async () => {
      const { store, index, runtime, logger } = this.deps
      const record = store.get(instanceName)
      const container = index.get(instanceName) ?? (await index.refresh(instanceName))
      if (record === undefined && container === undefined) {
        await this.legacyOrNotFound(instanceName, 'start')
        return { changed: true, state: await this.currentStatus(instanceName, 'running') }
      }
      if (record !== undefined) store.setDesiredState(instanceName, 'running')
      if (container === undefined) {
        // Removed behind DTMA's back: the store still knows how to make it.
        await launchContainer(runtime, record as InstanceRecord, true, logger.child({ instanceName, operation: 'start' }))
      } else if (container.dockerState === 'running') {
        return { changed: false, state: 'running' }
      } else if (record !== undefined) {
        await startContainer(runtime, record, container.id, logger.child({ instanceName, operation: 'start' }))
      } else {
        await runtime.start(container.id)
      }
      logger.info({ instanceName, operation: 'start' }, 'tool started')
      return { changed: true, state: await this.currentStatus(instanceName, 'running') }
    })
  }

  stop(instanceName: string): Promise<StateChange> {
    return this.operate(instanceName, async () => {
      if (this.isUnknown(instanceName)) {
        await this.legacyOrNotFound(instanceName, 'stop')
        return { changed: true, state: await this.currentStatus(instanceName, 'stopped') }
      }
      const { container } = this.require(instanceName)
      this.deps.store.setDesiredState(instanceName, 'stopped')
      if (container === undefined || !['running', 'restarting', 'paused'].includes(container.dockerState)) {
        return { changed: false, state: 'stopped' as const }
      }
      await this.deps.runtime.stop(container.id, this.deps.stopTimeoutSeconds)
      this.deps.logger.info({ instanceName, operation: 'stop', containerId: container.id }, 'tool stopped')
      return { changed: true, state: await this.currentStatus(instanceName, 'stopped') }
    })
  }

  restart(instanceName: string): Promise<StateChange> {
    return this.operate(instanceName, async () => {
      if (this.isUnknown(instanceName)) {
        await this.legacyOrNotFound(instanceName, 'restart')
        return { changed: true, state: await this.currentStatus(instanceName, 'running') }
      }
      const { record, container } = this.require(instanceName)
      if (record !== undefined) this.deps.store.setDesiredState(instanceName, 'running')
      if (container === undefined) {
        await launchContainer(this.deps.runtime, record as InstanceRecord, true, this.deps.logger.child({ instanceName, operation: 'restart' }))
      } else {
        await this.deps.runtime.restart(container.id, this.deps.stopTimeoutSeconds)
      }
      this.deps.logger.info({ instanceName, operation: 'restart' }, 'tool restarted')
      return { changed: true, state: await this.currentStatus(instanceName, 'running') }
    })
  }

  remove(instanceName: string): Promise<void> {
    return this.operate(instanceName, async () => {
      const { store, index, runtime, logger } = this.deps
      if (this.isUnknown(instanceName)) return this.legacyOrNotFound(instanceName, 'remove')
      const { record, container } = this.require(instanceName)
      // Journal first: a crash mid-remove is finished at the next start, and
      // the destroy event below is not mistaken for a removal behind DTMA.
      if (record !== undefined) store.setPendingOperation(instanceName, 'remove')
      if (container !== undefined) await runtime.remove(container.id)
      store.delete(instanceName)
      index.delete(instanceName)
      logger.info({ instanceName, operation: 'remove', containerId: container?.id }, 'tool removed')
    })
  }

  /** The container's output; no lock: reading logs never waits for an operation. */
  async logs(instanceName: string, query: LogsQuery): Promise<Readable> {
    this.deps.assertServing()
    const { container } = this.require(instanceName)
    if (container === undefined) throw new DtmaError('not-found', `Tool instance '${instanceName}' has no container (it is being recreated or was removed)`)
    return this.deps.runtime.logs(container.id, {
      tail: query.tail ?? DEFAULT_LOG_TAIL,
      since: query.since,
      follow: query.follow === true,
      maxBytes: query.follow === true ? Number.POSITIVE_INFINITY : MAX_LOG_BYTES
    })
  }

  /** Runs work under an instance's lock without the serving check (the reconciler's work). */
  underLock<T>(instanceName: string, work: () => Promise<T>): Promise<T> {
    return this.lock.run(instanceName, work)
  }

  /** Resolves when every queued operation has settled. */
  drain(): Promise<void> {
    return this.lock.drain()
  }

  /** Runs an operation under the instance's lock once Docker can serve it. */
  private async operate<T>(instanceName: string, operation: () => Promise<T>): Promise<T> {
    this.deps.assertServing()
    try {
      return await this.lock.run(instanceName, operation)
    } catch (error) {
      if (isDtmaError(error, 'unavailable')) this.deps.reportUnavailable(error)
      throw error
    } finally {
      this.deps.publish(instanceName)
    }
  }

  private isUnknown(instanceName: string): boolean {
    return isGone(this.deps.store.get(instanceName), this.deps.index.get(instanceName))
  }

  /** A name this agent does not know may be an earlier agent's container:
   *  the fleet acts on it (see LegacyTakeover); otherwise it is a 404. */
  private async legacyOrNotFound(instanceName: string, action: LifecycleAction): Promise<void> {
    if (!(await this.deps.legacy?.lifecycle(instanceName, action))) throw notFound(instanceName)
  }

  private require(instanceName: string): { record: InstanceRecord | undefined; container: ContainerInfo | undefined } {
    const record = this.deps.store.get(instanceName)
    const container = this.deps.index.get(instanceName)
    if (isGone(record, container)) throw notFound(instanceName)
    return { record, container }
  }

  private async currentStatus(instanceName: string, desiredState: DesiredState): Promise<InstanceStatus> {
    const container = await this.deps.index.refresh(instanceName)
    return instanceStatus(container?.dockerState ?? 'dead', desiredState)
  }
}
