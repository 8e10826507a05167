// The domain of DTMA, put together: the operations on instances, the sync
// with Docker, and the published view of every instance that everyone who
// reports instances reads. The API is ready only after the first reconcile.
import type { Readable } from 'node:stream'
import type { DeployToolBody, LogsQuery } from '@dtma/contract'
import type { Logger } from 'pino'
import type { McpCredential } from '../model/instance-spec.ts'
import type { McpHealthSource } from '../model/mcp-health.ts'
import type { ContainerRuntime, ResourceLimits } from '../runtime/types.ts'
import type { InstanceStore } from '../store/instance-store.ts'
import { IgnoredKeysLog, parseDeployRequest } from './deploy-request.ts'
import type { DeployResult, EngineState, InstanceApi } from './instance-api.ts'
import { InstanceIndex } from './instance-index.ts'
import type { LegacyDomain, LegacyTakeover, TakeOverObserver } from './legacy-port.ts'
import { InstanceOperations, notFound, type StateChange } from './operations.ts'
import { PortAllocator, type PortPolicy } from './port-allocator.ts'
import { PullProgressHub, type PullProgressListener } from './pull-progress.ts'
import type { ReconcileObserver } from './reconciler.ts'
import { InstanceSync } from './sync.ts'
import { instanceView, isGone, type InstanceView } from './view.ts'
import { InstanceViews, type InstanceChange, type InstanceChangeListener } from './views.ts'

export interface InstanceServiceOptions {
  runtime: ContainerRuntime
  store: InstanceStore
  logger: Logger
  /** Host ports for tools; the agent's own port is never handed out. */
  ports: PortPolicy
  toolHostIp: string
  /** The limits of a tool that asks for none, and the most one may ask. */
  toolLimits: ResourceLimits
  stopTimeoutSeconds: number
  selfHeal: boolean
  resyncIntervalMs: number
  /** Told what reconciling does (metrics); optional. */
  observer?: ReconcileObserver
  /** What the MCP monitor last saw of each MCP server, for the views. */
  mcpHealth?: McpHealthSource
  /** The take-over of an earlier agent's containers (fleet/), made with the domain it needs. */
  legacy?: (domain: LegacyDomain) => LegacyTakeover
  /** Told how long each take-over took (metrics); optional. */
  takeOverObserver?: TakeOverObserver
}

export class InstanceService implements InstanceApi {
  private readonly options: InstanceServiceOptions
  private readonly index: InstanceIndex
  private readonly views: InstanceViews
  private readonly pulls: PullProgressHub
  private readonly operations: InstanceOperations
  private readonly sync: InstanceSync
  private readonly ignoredKeys: IgnoredKeysLog

  constructor(options: InstanceServiceOptions) {
    const { runtime, store, logger } = options
    this.options = options
    this.index = new InstanceIndex(runtime)
    this.views = new InstanceViews(logger)
    this.pulls = new PullProgressHub(logger)
    this.ignoredKeys = new IgnoredKeysLog(logger)
    const ports = new PortAllocator(options.ports, () => store.list().map((record) => ({ instanceName: record.instanceName, ports: record.spec.ports })))
    const legacy = options.legacy?.({
      runtime,
      store,
      index: this.index,
      logger,
      stopTimeoutSeconds: options.stopTimeoutSeconds,
      ...(options.takeOverObserver !== undefined && { observer: options.takeOverObserver }),
      toolHostIp: options.toolHostIp,
      underLock: (instanceName, work) => this.operations.underLock(instanceName, work),
      publish: (instanceName) => this.publish(instanceName),
      assertServing: () => this.sync.assertServing()
    })
    this.operations = new InstanceOperations({
      runtime,
      store,
      index: this.index,
      ports,
      pulls: this.pulls,
      logger,
      stopTimeoutSeconds: options.stopTimeoutSeconds,
      ...(legacy !== undefined && { legacy }),
      assertServing: () => this.sync.assertServing(),
      publish: (instanceName) => this.publish(instanceName),
      reportUnavailable: (error) => this.sync.reportUnavailable(error)
    })
    this.sync = new InstanceSync({
      ...options,
      index: this.index,
      underLock: (instanceName, work) => this.operations.underLock(instanceName, work),
      publish: (instanceName) => this.publish(instanceName),
      publishedNames: () => this.views.names(),
      ...(legacy !== undefined && { adoptAtStart: () => legacy.adoptAtStart() })
    })
  }

  /** Connects to Docker and reconciles in the background; see whenReady. */
  connect(): void {
    this.sync.connect()
  }

  whenReady(): Promise<void> {
    return this.sync.whenReady()
  }

  unavailableReason(): string | undefined {
    return this.sync.unavailableReason()
  }

  /** Stops following Docker and waits for in-flight operations. */
  async shutdown(): Promise<void> {
    this.sync.stop()
    await this.operations.drain()
  }

  list(): readonly InstanceView[] {
    this.sync.assertServing()
    return this.views.list()
  }

  get(instanceName: string): InstanceView {
    this.sync.assertServing()
    const view = this.views.get(instanceName)
    if (view === undefined) throw notFound(instanceName)
    return view
  }

  mcpCredential(instanceName: string): McpCredential | undefined {
    return this.options.store.get(instanceName)?.spec.mcpAuth
  }

  snapshot(): InstanceChange[] {
    return this.views.snapshot()
  }

  onChange(listener: InstanceChangeListener): () => void {
    return this.views.onChange(listener)
  }

  onPullProgress(listener: PullProgressListener): () => void {
    return this.pulls.onProgress(listener)
  }

  async deploy(body: DeployToolBody): Promise<DeployResult> {
    const request = parseDeployRequest(body, { hostIp: this.options.toolHostIp, maxima: this.options.toolLimits })
    this.ignoredKeys.note(request)
    const outcome = await this.operations.deploy(request)
    // Published by the deploy; gone only if an operation queued behind it removed it already.
    const view = this.views.get(request.spec.instanceName)
    if (view === undefined) throw notFound(request.spec.instanceName)
    return { ...outcome, view }
  }

  start(instanceName: string): Promise<StateChange> {
    return this.operations.start(instanceName)
  }

  stop(instanceName: string): Promise<StateChange> {
    return this.operations.stop(instanceName)
  }

  restart(instanceName: string): Promise<StateChange> {
    return this.operations.restart(instanceName)
  }

  remove(instanceName: string): Promise<void> {
    return this.operations.remove(instanceName)
  }

  logs(instanceName: string, query: LogsQuery): Promise<Readable> {
    return this.operations.logs(instanceName, query)
  }

  async engine(): Promise<EngineState> {
    try {
      return { available: true, engine: await this.options.runtime.engineInfo(), managedInstances: this.views.size }
    } catch (error) {
      return { available: false, reason: (error as Error).message }
    }
  }

  /** Publishes an instance's view again (its MCP health changed); nothing for an unknown one. */
  republish(instanceName: string): void {
    if (this.views.get(instanceName) !== undefined) this.publish(instanceName)
  }

  private viewOf(instanceName: string): InstanceView | undefined {
    const record = this.options.store.get(instanceName)
    const container = this.index.get(instanceName)
    if (isGone(record, container)) return void this.options.store.prefixes.release(instanceName)
    return instanceView(instanceName, record, container, this.options.toolLimits, this.options.mcpHealth?.health(instanceName), (name) => this.options.store.prefixes.prefixOf(name))
  }

  private publish(instanceName: string): void {
    this.views.publish(instanceName, this.viewOf(instanceName))
  }
}
