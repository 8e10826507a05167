// Keeps the domain in step with Docker: follows its events (speed) and
// relists on every (re)connect and on an interval (truth), reconciling each
// instance whose Docker state differs from its stored intent, under that
// instance's lock, and publishing the result. Until the first reconcile is
// done, or while Docker is away, it says why operations cannot be served.
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { ContainerEvent } from '../runtime/types.ts'
import { DockerWatcher } from './docker-watcher.ts'
import { needsReconcile, Reconciler, type ReconcilerOptions } from './reconciler.ts'

export interface InstanceSyncOptions extends ReconcilerOptions {
  resyncIntervalMs: number
  /** Runs work under an instance's lock (shared with the operations). */
  underLock: <T>(instanceName: string, work: () => Promise<T>) => Promise<T>
  /** Publishes an instance's view. */
  publish: (instanceName: string) => void
  /** The names of the instances published now (a resync republishes them too). */
  publishedNames: () => string[]
  /** Once, in the first resync (before ready): takes over what earlier agents labelled. */
  adoptAtStart?: () => Promise<void>
}

export class InstanceSync {
  private readonly options: InstanceSyncOptions
  private readonly reconciler: Reconciler
  private readonly watcher: DockerWatcher
  private ready = false
  private adoptedAtStart = false

  constructor(options: InstanceSyncOptions) {
    this.options = options
    this.reconciler = new Reconciler(options)
    this.watcher = new DockerWatcher({
      runtime: options.runtime,
      logger: options.logger,
      onEvent: (event) => this.onDockerEvent(event),
      resync: () => this.resync(),
      resyncIntervalMs: options.resyncIntervalMs
    })
  }

  /** Connects to Docker and reconciles in the background; see whenReady. */
  connect(): void {
    void this.watcher.firstSync.then(() => {
      this.ready = true
      this.options.logger.info({ instances: this.options.publishedNames().length }, 'first reconcile done: ready')
    })
    this.watcher.start()
  }

  whenReady(): Promise<void> {
    return this.watcher.firstSync
  }

  /** Why Docker routes cannot be served now, or undefined when they can. */
  unavailableReason(): string | undefined {
    if (!this.watcher.available) return `Docker engine unreachable: ${this.watcher.lastError ?? 'reconnecting'}`
    if (!this.ready) return 'DTMA is starting: reconciling with Docker'
    return undefined
  }

  assertServing(): void {
    if (!this.watcher.available) throw new DtmaError('unavailable', this.unavailableReason() as string)
    if (!this.ready) throw new DtmaError('not-ready', this.unavailableReason() as string)
  }

  /** An operation found Docker unreachable before the event stream did. */
  reportUnavailable(error: Error): void {
    this.watcher.reportUnavailable(error)
  }

  stop(): void {
    this.watcher.stop()
  }

  /** Full resync: one listing of Docker, then reconcile whatever differs. */
  private async resync(): Promise<void> {
    const { runtime, store, index } = this.options
    const before = new Set(this.options.publishedNames())
    index.replaceAll(await runtime.listManaged())
    const records = new Map(store.list().map((record) => [record.instanceName, record]))
    const names = new Set([...records.keys(), ...index.names()])
    const pending = [...names].filter((name) => needsReconcile(records.get(name), index.get(name)))
    await Promise.all(pending.map((name) => this.reconcileInBackground(name)))
    for (const name of new Set([...before, ...names])) this.options.publish(name)
    if (!this.adoptedAtStart && this.options.adoptAtStart !== undefined) {
      await this.options.adoptAtStart()
      this.adoptedAtStart = true
    }
  }

  private reconcileInBackground(instanceName: string): Promise<void> {
    return this.options
      .underLock(instanceName, () => this.reconciler.reconcile(instanceName))
      .then(() => this.options.observer?.reconciled('ok'))
      .catch((error: unknown) => {
        this.options.observer?.reconciled('failed')
        this.options.logger.warn({ instanceName, err: error }, 'reconcile failed; the next resync retries')
      })
      .finally(() => this.options.publish(instanceName))
  }

  private onDockerEvent(event: ContainerEvent): void {
    if (event.instanceName === undefined) return
    this.options.logger.debug({ instanceName: event.instanceName, action: event.action }, 'docker event')
    void this.reconcileInBackground(event.instanceName)
  }
}
