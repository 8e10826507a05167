// Keeps the domain in step with Docker: follows its events (speed) and
// relists on every (re)connect and on an interval (truth), reconciling each
// instance whose Docker state differs from its stored intent, under that
// instance's lock, and publishing the result. A reconcile that fails is tried
// again soon, with backoff, rather than at the next resync only: the first try
// after Docker comes back can meet an engine still restoring its containers.
// Until the first reconcile is done, or while Docker is away, it says why
// operations cannot be served.
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
  /** Once, in the first resync (before ready): journals the take-overs of
   *  what earlier agents labelled; they go on in the background, so being
   *  ready never waits for one. */
  adoptAtStart?: () => Promise<void>
}

/** The first retry of a failed reconcile; each next one waits twice as long, up to the resync interval. */
const FIRST_RETRY_MS = 1000

export class InstanceSync {
  private readonly options: InstanceSyncOptions
  private readonly reconciler: Reconciler
  private readonly watcher: DockerWatcher
  private ready = false
  private adoptedAtStart = false
  private stopped = false
  /** Instances whose last reconcile failed: how often in a row, and the timer of the next try. */
  private readonly retries = new Map<string, { failures: number; timer: NodeJS.Timeout }>()

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
    this.stopped = true
    for (const { timer } of this.retries.values()) clearTimeout(timer)
    this.retries.clear()
    this.watcher.stop()
  }

  /** Full resync: one listing of Docker, then reconcile whatever differs. */
  private async resync(): Promise<void> {
    const { runtime, store, index } = this.options
    const before = new Set(this.options.publishedNames())
    await index.replaceAll(await runtime.listManaged())
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
      .then(() => {
        this.options.observer?.reconciled('ok')
        this.forgetRetry(instanceName)
      })
      .catch((error: unknown) => {
        this.options.observer?.reconciled('failed')
        const retryInMs = this.scheduleRetry(instanceName)
        this.options.logger.warn({ instanceName, err: error, retryInMs }, 'reconcile failed; retrying')
      })
      .finally(() => this.options.publish(instanceName))
  }

  /** Schedules the next try of a failed reconcile; answers its delay. While
   *  Docker is away the try is skipped: the resync after reconnecting does it. */
  private scheduleRetry(instanceName: string): number {
    const previous = this.retries.get(instanceName)
    clearTimeout(previous?.timer)
    const failures = (previous?.failures ?? 0) + 1
    const delayMs = Math.min(FIRST_RETRY_MS * 2 ** (failures - 1), this.options.resyncIntervalMs)
    const timer = setTimeout(() => {
      if (!this.stopped && this.watcher.available) void this.reconcileInBackground(instanceName)
    }, delayMs)
    timer.unref()
    this.retries.set(instanceName, { failures, timer })
    return delayMs
  }

  private forgetRetry(instanceName: string): void {
    clearTimeout(this.retries.get(instanceName)?.timer)
    this.retries.delete(instanceName)
  }

  private onDockerEvent(event: ContainerEvent): void {
    if (event.instanceName === undefined) return
    this.options.logger.debug({ instanceName: event.instanceName, action: event.action }, 'docker event')
    void this.reconcileInBackground(event.instanceName)
  }
}
