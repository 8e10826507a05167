// What the HTTP app and the reporters (registry, heartbeat, metrics) need of
// the domain. The app is built on this interface, so an HTTP test may hand
// it a fake service when that is the right test.
import type { Readable } from 'node:stream'
import type { DeployToolBody, LogsQuery } from '@dtma/contract'
import type { McpCredential } from '../model/instance-spec.ts'
import type { EngineInfo } from '../runtime/types.ts'
import type { DeployOutcome } from './deploy.ts'
import type { StateChange } from './operations.ts'
import type { PullProgressListener } from './pull-progress.ts'
import type { InstanceView } from './view.ts'
import type { InstanceChange, InstanceChangeListener } from './views.ts'

export interface DeployResult extends DeployOutcome {
  /** The instance as the deploy left it. */
  view: InstanceView
}

export type EngineState = { available: true; engine: EngineInfo; managedInstances: number } | { available: false; reason: string }

export interface InstanceApi {
  /** Resolves after the first reconcile with Docker. */
  whenReady(): Promise<void>
  /** Why Docker routes cannot be served now, or undefined when they can. */
  unavailableReason(): string | undefined
  /** Every instance by name (the same array until one changes); throws while not serving. */
  list(): readonly InstanceView[]
  get(instanceName: string): InstanceView
  /** The credential its deploy gave its http or sse MCP server (mcpAuth), from the store; never in a view. */
  mcpCredential(instanceName: string): McpCredential | undefined
  /** Current view of every instance, as listeners were told; never throws. */
  snapshot(): InstanceChange[]
  onChange(listener: InstanceChangeListener): () => void
  onPullProgress(listener: PullProgressListener): () => void
  deploy(body: DeployToolBody): Promise<DeployResult>
  start(instanceName: string): Promise<StateChange>
  stop(instanceName: string): Promise<StateChange>
  restart(instanceName: string): Promise<StateChange>
  remove(instanceName: string): Promise<void>
  logs(instanceName: string, query: LogsQuery): Promise<Readable>
  engine(): Promise<EngineState>
}
