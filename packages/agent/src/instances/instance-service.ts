// The domain of DTMA: deploy, start, stop, restart and remove tool instances,
// and answer what runs. Docker (through the runtime) is the truth for what
// exists; the store is the truth for what should exist; the index is the
// current picture of Docker, kept by events and resyncs. One operation per
// instance at a time; the API is ready only after the first reconcile.
import type { Readable } from 'node:stream'
import type { DeployToolBody, DeployToolData, DesiredState, DockerEngineInfo, InstanceStatus, LogsQuery, PullProgressEvent, ToolInstance } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError, isDtmaError } from '../errors.ts'
import type { ToolPortPolicy } from '../config.ts'
import type { ContainerEvent, ContainerInfo, ContainerRuntime, PullProgress, ResourceLimits } from '../runtime/docker-runtime.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { InstanceRecord, InstanceStore } from '../store/instance-store.ts'
import { containerNameFor } from './container-name.ts'
import { DockerWatcher } from './docker-watcher.ts'
import { InstanceIndex, ownedBy } from './instance-index.ts'
import { KeyedLock } from './keyed-lock.ts'
import { parseDeployRequest, type DeployRequest } from './deploy-request.ts'
import { launchContainer } from './launcher.ts'
import { mcpFromLabels } from './mcp-labels.ts'
import { PortAllocator } from './port-allocator.ts'
import { publishedPorts } from './published-ports.ts'
import { needsReconcile, Reconciler, type ReconcileObserver } from './reconciler.ts'
import { envKeys, type InstanceSpec } from './spec.ts'
import { instanceStatus } from './status.ts'

export interface InstanceServiceOptions {
  runtime: ContainerRuntime
  store: InstanceStore
  logger: Logger
  /** The agent's own listen port: never handed to a tool. */
  agentPort: number
  toolHostIp: string
  toolPorts: ToolPortPolicy
  /** The limits of a tool that asks for none, and the most one may ask. */
  toolLimits: ResourceLimits
  stopTimeoutSeconds: number
  selfHeal: boolean
  resyncIntervalMs: number
  /** Told what reconciling does (metrics); optional. */
  observer?: ReconcileObserver
}

export interface DeployResult {
  created: boolean
  data: DeployToolData
  /** What was not done as asked: ignored keys, reassigned ports, lowered limits. */
  warnings: string[]
  /** Asked host ports that were replaced, one sentence each (also among the warnings). */
  reassignedPorts: string[]
}

export interface StateChange {
  changed: boolean
  state: InstanceStatus
}

/** What an instance looks like after a change; `instance` undefined: it is gone. */
export interface InstanceChange {
  instanceName: string
  instance: ToolInstance | undefined
}

export type InstanceChangeListener = (change: InstanceChange) => void
export type PullProgressListener = (event: PullProgressEvent) => void

/** Log reads: the default and the most a caller gets without follow. */
const DEFAULT_LOG_TAIL = 100
const MAX_LOG_BYTES = 4 * 1024 * 1024
/** Pull progress reaches listeners at most this often per layer, besides every change of its status word. */
const PULL_EVENT_INTERVAL_MS = 250
/** Tries of a deploy whose range-picked host port turns out taken outside DTMA. */
const PORT_ATTEMPTS = 10
/** Ignored override keys are logged once each; past this many distinct keys, no more. */
const LOGGED_KEYS_MAX = 256

/** docker_status of an instance whose container is gone. */
const MISSING = 'missing'

/** No record (or one being removed) and no container: the instance does not exist. */
function isGone(record: InstanceRecord | undefined, container: ContainerInfo | undefined): boolean {
  return (record === undefined || record.pendingOperation === 'remove') && container === undefined
}

function notFound(instanceName: string): DtmaError {
  return new DtmaError('not-found', `Tool instance '${instanceName}' not found or not managed by this DTMA.`)
}

export class InstanceService {
  private readonly options: InstanceServiceOptions
  private readonly runtime: ContainerRuntime
  private readonly store: InstanceStore
  private readonly logger: Logger
  private readonly lock = new KeyedLock()
  private readonly index: InstanceIndex
  private readonly ports: PortAllocator
  /** Ignored override keys already logged (a caller's habit is told once, not per deploy). */
  private readonly loggedIgnoredKeys = new Set<string>()
  private readonly reconciler: Reconciler
  private readonly watcher: DockerWatcher
  private ready = false
  private readonly listeners = new Set<InstanceChangeListener>()
  private readonly pullListeners = new Set<PullProgressListener>()
  /** Last published view of each existing instance (and its JSON, so
   *  listeners hear real changes only). list, get and snapshot read these:
   *  a status poll costs no store read, whatever the number of instances. */
  private readonly views = new Map<string, { instance: ToolInstance; json: string }>()
  /** views in name order, made again after a change. */
  private sortedViews: readonly ToolInstance[] | undefined

  constructor(options: InstanceServiceOptions) {
    this.options = options
    this.runtime = options.runtime
    this.store = options.store
    this.logger = options.logger
    this.index = new InstanceIndex(options.runtime)
    this.ports = new PortAllocator({ ...options.toolPorts, agentPort: options.agentPort }, () =>
      this.store.list().map((record) => ({ instanceName: record.instanceName, ports: record.spec.ports }))
    )
    this.reconciler = new Reconciler({ ...options, index: this.index })
    this.watcher = new DockerWatcher({
      runtime: options.runtime,
      logger: options.logger,
      onEvent: (event) => this.onDockerEvent(event),
      resync: () => this.resync(),
      resyncIntervalMs: options.resyncIntervalMs
    })
  }

  // ---- lifecycle of the service ------------------------------------------------

  /** Connects to Docker and reconciles in the background; see whenReady. */
  connect(): void {
    void this.watcher.firstSync.then(() => {
      this.ready = true
      this.logger.info({ instances: this.index.names().length }, 'first reconcile done: ready')
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

  /** Stops following Docker and waits for in-flight operations. */
  async shutdown(): Promise<void> {
    this.watcher.stop()
    await this.lock.drain()
  }

  /** Listens to every change of any instance (registry, event stream). */
  onChange(listener: InstanceChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Listens to image pull progress of deploys (event stream). */
  onPullProgress(listener: PullProgressListener): () => void {
    this.pullListeners.add(listener)
    return () => this.pullListeners.delete(listener)
  }

  /** Current view of every instance, as listeners were told. */
  snapshot(): InstanceChange[] {
    return [...this.views].map(([instanceName, { instance }]) => ({ instanceName, instance }))
  }

  // ---- operations ----------------------------------------------------------------

  deploy(body: DeployToolBody): Promise<DeployResult> {
    const request = parseDeployRequest(body, { hostIp: this.options.toolHostIp, maxima: this.options.toolLimits })
    this.logIgnoredKeys(request)
    return this.operate(request.spec.instanceName, () => this.deployLocked(request))
  }

  start(instanceName: string): Promise<StateChange> {
    return this.operate(instanceName, async () => {
      const record = this.store.get(instanceName)
      const container = this.index.get(instanceName) ?? (await this.index.refresh(instanceName))
      if (record === undefined && container === undefined) throw notFound(instanceName)
      if (record !== undefined) this.store.setDesiredState(instanceName, 'running')
      if (container === undefined) {
        // Removed behind DTMA's back: the store still knows how to make it.
        await launchContainer(this.runtime, record as InstanceRecord, true, this.logger.child({ instanceName, operation: 'start' }))
      } else if (container.dockerState === 'running') {
        return { changed: false, state: 'running' }
      } else {
        await this.runtime.start(container.id)
      }
      this.logger.info({ instanceName, operation: 'start' }, 'tool started')
      return { changed: true, state: await this.currentStatus(instanceName, 'running') }
    })
  }

  stop(instanceName: string): Promise<StateChange> {
    return this.operate(instanceName, async () => {
      const { container } = this.require(instanceName)
      this.store.setDesiredState(instanceName, 'stopped')
      if (container === undefined || !['running', 'restarting', 'paused'].includes(container.dockerState)) {
        return { changed: false, state: 'stopped' as const }
      }
      await this.runtime.stop(container.id, this.options.stopTimeoutSeconds)
      this.logger.info({ instanceName, operation: 'stop', containerId: container.id }, 'tool stopped')
      return { changed: true, state: await this.currentStatus(instanceName, 'stopped') }
    })
  }

  restart(instanceName: string): Promise<StateChange> {
    return this.operate(instanceName, async () => {
      const { record, container } = this.require(instanceName)
      if (record !== undefined) this.store.setDesiredState(instanceName, 'running')
      if (container === undefined) {
        await launchContainer(this.runtime, record as InstanceRecord, true, this.logger.child({ instanceName, operation: 'restart' }))
      } else {
        await this.runtime.restart(container.id, this.options.stopTimeoutSeconds)
      }
      this.logger.info({ instanceName, operation: 'restart' }, 'tool restarted')
      return { changed: true, state: await this.currentStatus(instanceName, 'running') }
    })
  }

  remove(instanceName: string): Promise<void> {
    return this.operate(instanceName, async () => {
      const { record, container } = this.require(instanceName)
      // Journal first: a crash mid-remove is finished at the next start, and
      // the destroy event below is not mistaken for a removal behind DTMA.
      if (record !== undefined) this.store.setPendingOperation(instanceName, 'remove')
      if (container !== undefined) await this.runtime.remove(container.id)
      this.store.delete(instanceName)
      this.index.delete(instanceName)
      this.logger.info({ instanceName, operation: 'remove', containerId: container?.id }, 'tool removed')
    })
  }

  /** The container's output; no lock: reading logs never waits for an operation. */
  async logs(instanceName: string, query: LogsQuery): Promise<Readable> {
    this.assertServing()
    const { container } = this.require(instanceName)
    if (container === undefined) throw new DtmaError('not-found', `Tool instance '${instanceName}' has no container (it is being recreated or was removed)`)
    return this.runtime.logs(container.id, {
      tail: query.tail ?? DEFAULT_LOG_TAIL,
      since: query.since,
      follow: query.follow === true,
      maxBytes: query.follow === true ? Number.POSITIVE_INFINITY : MAX_LOG_BYTES
    })
  }

  /** The Docker engine's version and counts, or why it cannot be read. */
  async engine(): Promise<DockerEngineInfo> {
    try {
      const info = await this.runtime.engineInfo()
      return { available: true, version: info.version, api_version: info.apiVersion, containers: info.containers, images: info.images, managed_instances: this.views.size }
    } catch (error) {
      return { available: false, reason: (error as Error).message }
    }
  }

  /** Every instance by name; the same array until an instance changes. */
  async list(): Promise<readonly ToolInstance[]> {
    this.assertServing()
    this.sortedViews ??= [...this.views]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, { instance }]) => instance)
    return this.sortedViews
  }

  async get(instanceName: string): Promise<ToolInstance> {
    this.assertServing()
    const instance = this.views.get(instanceName)?.instance
    if (instance === undefined) throw notFound(instanceName)
    return instance
  }

  // ---- internals -----------------------------------------------------------------

  /** Runs an operation under the instance's lock once Docker can serve it. */
  private async operate<T>(instanceName: string, operation: () => Promise<T>): Promise<T> {
    this.assertServing()
    try {
      return await this.lock.run(instanceName, operation)
    } catch (error) {
      if (isDtmaError(error, 'unavailable')) this.watcher.reportUnavailable(error)
      throw error
    } finally {
      this.publish(instanceName)
    }
  }

  private view(instanceName: string): ToolInstance | undefined {
    const record = this.store.get(instanceName)
    const container = this.index.get(instanceName)
    if (isGone(record, container)) return undefined
    return this.toToolInstance(instanceName, record, container)
  }

  /** Tells listeners about an instance if its view changed since last told. */
  private publish(instanceName: string): void {
    const instance = this.view(instanceName)
    const json = instance === undefined ? '' : JSON.stringify(instance)
    if ((this.views.get(instanceName)?.json ?? '') === json) return
    if (instance === undefined) this.views.delete(instanceName)
    else this.views.set(instanceName, { instance, json })
    this.sortedViews = undefined
    for (const listener of this.listeners) {
      try {
        listener({ instanceName, instance })
      } catch (error) {
        this.logger.error({ err: error, instanceName }, 'instance change listener failed')
      }
    }
  }

  private assertServing(): void {
    if (!this.watcher.available) throw new DtmaError('unavailable', this.unavailableReason() as string)
    if (!this.ready) throw new DtmaError('not-ready', this.unavailableReason() as string)
  }

  private require(instanceName: string): { record: InstanceRecord | undefined; container: ContainerInfo | undefined } {
    const record = this.store.get(instanceName)
    const container = this.index.get(instanceName)
    if (isGone(record, container)) throw notFound(instanceName)
    return { record, container }
  }

  private async deployLocked(request: DeployRequest): Promise<DeployResult> {
    const { spec: asked, hash } = request
    const instanceName = asked.instanceName
    const log = this.logger.child({ instanceName, operation: 'deploy' })
    const containerName = containerNameFor(instanceName)

    const existing = await this.runtime.inspect(containerName)
    if (existing !== undefined && ownedBy(existing, instanceName) === undefined) {
      throw new DtmaError('conflict', `Container name '${containerName}' is taken by a container DTMA does not manage`)
    }
    const stored = this.store.get(instanceName)
    const knownHash = existing?.labels[InstanceLabel.specHash] ?? stored?.specHash
    if (knownHash !== undefined && knownHash !== hash) {
      throw new DtmaError('conflict', `Tool instance '${instanceName}' already exists with a different spec; remove it first`)
    }
    if (existing !== undefined) {
      // The same deploy again: converge on running and answer with what exists, on the ports it holds.
      const spec = { ...asked, ports: stored?.spec.ports ?? existing.ports }
      this.store.put({ instanceName, containerName, spec, specHash: hash, desiredState: 'running' })
      if (existing.dockerState !== 'running') await this.runtime.start(existing.id)
      log.info({ containerId: existing.id }, 'deploy repeated: existing container returned')
      return { created: false, data: await this.deployData(spec, 'local'), warnings: request.warnings, reassignedPorts: [] }
    }

    const imageSource = await this.ensureImage(instanceName, asked.image, request.forcePull, log)
    for (let attempt = 1; ; attempt++) {
      // Allocated and journalled in one synchronous step: no other deploy can
      // take these ports, and a crash from here on leaves a record the
      // reconciler finishes (container made) or rolls back (none made).
      const allocation = this.ports.allocate(instanceName, asked.ports)
      const record = { instanceName, containerName, spec: { ...asked, ports: allocation.ports }, specHash: hash, desiredState: 'running' as const }
      this.store.put({ ...record, pendingOperation: 'deploy' })
      try {
        const containerId = await launchContainer(this.runtime, record, true, log)
        this.store.setPendingOperation(instanceName, null)
        log.info({ containerId, containerName, image: asked.image, envKeys: envKeys(asked.env), imageSource, ports: allocation.ports }, 'tool deployed')
        return {
          created: true,
          data: await this.deployData(record.spec, imageSource),
          warnings: [...allocation.reassigned, ...request.warnings],
          reassignedPorts: allocation.reassigned
        }
      } catch (error) {
        this.store.delete(instanceName)
        const outside = takenHostPort(error, allocation.fromRange)
        if (outside === undefined || attempt === PORT_ATTEMPTS) throw error
        // A port of the range that something outside DTMA holds: try another.
        this.ports.heldOutsideDtma(outside.host_port, outside.protocol)
        log.info({ hostPort: outside.host_port, attempt }, 'host port of the tool range is taken outside DTMA; picking another')
      }
    }
  }

  private async deployData(spec: InstanceSpec, imageSource: DeployToolData['image_source']): Promise<DeployToolData> {
    const container = await this.index.refresh(spec.instanceName)
    return {
      container_id: container?.id ?? '',
      instance_name_on_toolbox: spec.instanceName,
      account_tool_instance_id: spec.accountToolInstanceId,
      image: spec.image,
      ports: publishedPorts(container?.ports ?? spec.ports),
      state: instanceStatus(container?.dockerState ?? 'dead', 'running'),
      image_source: imageSource,
      mcp: spec.mcp ?? null,
      limits: this.appliedLimits(spec.limits)
    }
  }

  private appliedLimits(limits: ResourceLimits | undefined): ToolInstance['limits'] {
    const applied = limits ?? this.options.toolLimits
    return { memory_bytes: applied.memoryBytes, cpus: applied.nanoCpus / 1e9, pids: applied.pidsLimit }
  }

  private logIgnoredKeys(request: DeployRequest): void {
    const fresh = request.ignoredKeys.filter((key) => !this.loggedIgnoredKeys.has(key))
    if (fresh.length === 0 || this.loggedIgnoredKeys.size >= LOGGED_KEYS_MAX) return
    for (const key of fresh) this.loggedIgnoredKeys.add(key)
    this.logger.warn({ instanceName: request.spec.instanceName, ignoredKeys: fresh.slice(0, 20) }, 'deploy override keys DTMA does not know were ignored (logged once per key)')
  }

  /** Pull only when missing (or asked); a failed pull falls back to a local copy. */
  private async ensureImage(instanceName: string, image: string, forcePull: boolean, log: Logger): Promise<DeployToolData['image_source']> {
    const present = await this.runtime.hasImage(image)
    if (present && !forcePull) return 'local'
    let lastLogged = 0
    const announce = this.pullAnnouncer(instanceName, image)
    try {
      log.info({ image }, 'pulling image')
      await this.runtime.pullImage(image, (progress) => {
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

  /** Docker reports pull progress many times a second per layer: listeners
   *  hear each new status word of a layer and otherwise a few updates a second. */
  private pullAnnouncer(instanceName: string, image: string): (progress: PullProgress) => void {
    const lastByLayer = new Map<string, { status: string; at: number }>()
    return (progress) => {
      if (this.pullListeners.size === 0) return
      const layer = progress.id ?? ''
      const now = Date.now()
      const last = lastByLayer.get(layer)
      if (last !== undefined && last.status === progress.status && now - last.at < PULL_EVENT_INTERVAL_MS) return
      lastByLayer.set(layer, { status: progress.status, at: now })
      const event: PullProgressEvent = { instanceName, image, status: progress.status }
      if (progress.id !== undefined) event.layer = progress.id
      if (progress.current !== undefined) event.current = progress.current
      if (progress.total !== undefined) event.total = progress.total
      for (const listener of this.pullListeners) {
        try {
          listener(event)
        } catch (error) {
          this.logger.error({ err: error, instanceName }, 'pull progress listener failed')
        }
      }
    }
  }

  private async currentStatus(instanceName: string, desiredState: DesiredState): Promise<InstanceStatus> {
    const container = await this.index.refresh(instanceName)
    return instanceStatus(container?.dockerState ?? 'dead', desiredState)
  }

  /** Full resync: one listing of Docker, then reconcile whatever differs. */
  private async resync(): Promise<void> {
    const before = new Set(this.views.keys())
    this.index.replaceAll(await this.runtime.listManaged())
    const records = new Map(this.store.list().map((record) => [record.instanceName, record]))
    const names = new Set([...records.keys(), ...this.index.names()])
    const pending = [...names].filter((name) => needsReconcile(records.get(name), this.index.get(name)))
    await Promise.all(pending.map((name) => this.reconcileInBackground(name)))
    for (const name of new Set([...before, ...names])) this.publish(name)
  }

  private reconcileInBackground(instanceName: string): Promise<void> {
    return this.lock
      .run(instanceName, () => this.reconciler.reconcile(instanceName))
      .then(() => this.options.observer?.reconciled('ok'))
      .catch((error: unknown) => {
        this.options.observer?.reconciled('failed')
        this.logger.warn({ instanceName, err: error }, 'reconcile failed; the next resync retries')
      })
      .finally(() => this.publish(instanceName))
  }

  private onDockerEvent(event: ContainerEvent): void {
    if (event.instanceName === undefined) return
    this.logger.debug({ instanceName: event.instanceName, action: event.action }, 'docker event')
    void this.reconcileInBackground(event.instanceName)
  }

  private toToolInstance(instanceName: string, record: InstanceRecord | undefined, container: ContainerInfo | undefined): ToolInstance {
    // Without a stored intent, what Docker runs is taken as what is wanted.
    const desiredState = record?.desiredState ?? (container?.dockerState === 'running' ? 'running' : 'stopped')
    const dockerState = container?.dockerState ?? MISSING
    return {
      account_tool_instance_id: record?.spec.accountToolInstanceId ?? container?.labels[InstanceLabel.accountToolInstanceId] ?? '',
      instance_name_on_toolbox: instanceName,
      container_id: container?.id ?? '',
      container_name: container?.name ?? containerNameFor(instanceName),
      image: container?.image ?? record?.spec.image ?? '',
      ports: publishedPorts(container !== undefined && container.ports.length > 0 ? container.ports : (record?.spec.ports ?? [])),
      created: container?.created ?? Math.floor((record?.updatedAt ?? 0) / 1000),
      status: container === undefined ? (desiredState === 'running' ? 'error' : 'stopped') : instanceStatus(dockerState, desiredState),
      desired_state: desiredState,
      docker_status: dockerState,
      health: container?.health ?? 'none',
      mcp: record?.spec.mcp ?? (container === undefined ? undefined : mcpFromLabels(container.labels)) ?? null,
      limits: this.appliedLimits(record?.spec.limits)
    }
  }
}

/** The host port of the range that Docker found taken, when a deploy failed for that. */
function takenHostPort(error: unknown, fromRange: ReadonlySet<number>): { host_port: number; protocol: string } | undefined {
  if (!isDtmaError(error, 'port-conflict')) return undefined
  // Docker names the address: "Bind for 0.0.0.0:30001 failed: port is already allocated".
  const hostPort = [...error.message.matchAll(/:(\d{1,5})\b/g)].map((match) => Number(match[1])).find((port) => fromRange.has(port))
  return hostPort === undefined ? undefined : { host_port: hostPort, protocol: /\budp\b/.test(error.message) ? 'udp' : 'tcp' }
}
