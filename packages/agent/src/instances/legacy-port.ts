// The domain's door to the take-over of an earlier agent's containers. The
// fleet (fleet/legacy/) implements it; the domain only asks, under the
// instance's lock, when a call names an instance it does not know (or knows
// only from a take-over that no deploy has named yet), and knows nothing of
// how earlier agents made their containers.
import type { Logger } from 'pino'
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts'
import type { InstanceRecord, InstanceStore } from '../store/instance-store.ts'
import type { DeployOutcome } from './deploy.ts'
import type { DeployRequest } from './deploy-request.ts'
import type { InstanceIndex } from './instance-index.ts'

export type LifecycleAction = 'start' | 'stop' | 'restart' | 'remove'

export interface LegacyTakeover {
  /** A deploy, before the normal rules: answers it when the name is an
   *  earlier agent's container (taken over) or an instance a take-over made
   *  without an id (completed); undefined: the normal deploy goes on. */
  deploy(request: DeployRequest, known: { record: InstanceRecord | undefined; container: ContainerInfo | undefined }): Promise<DeployOutcome | undefined>
  /** A lifecycle call on a name the agent does not know: acts on an earlier
   *  agent's container of that name; false when there is none (a 404). */
  lifecycle(instanceName: string, action: LifecycleAction): Promise<boolean>
  /** Once, at the first sync with Docker (before the agent is ready): finds
   *  the containers an earlier agent labelled and journals their take-overs,
   *  each queued under its instance's lock. Resolves once they are journalled
   *  (the agent knows what exists and what should run); the take-overs go on
   *  in the background, a bounded number at a time. Never throws. */
  adoptAtStart(): Promise<void>
}

/** What started a take-over: the agent's start (labelled containers), a deploy, a start/stop/restart by name, an operator's adopt. */
export type TakeOverTrigger = 'start' | 'deploy' | 'lifecycle' | 'adopt'

/** Told how long each take-over took (metrics); the fleet knows nothing of how it is counted. */
export interface TakeOverObserver {
  tookOver(trigger: TakeOverTrigger, outcome: 'ok' | 'failed', seconds: number): void
}

/** What a take-over needs of the domain; the instance service hands it over. */
export interface LegacyDomain {
  runtime: ContainerRuntime
  store: InstanceStore
  index: InstanceIndex
  logger: Logger
  stopTimeoutSeconds: number
  observer?: TakeOverObserver
  /** Every tool port binds to this address. */
  toolHostIp: string
  /** Runs work under an instance's lock (shared with the operations). */
  underLock<T>(instanceName: string, work: () => Promise<T>): Promise<T>
  publish(instanceName: string): void
  /** Throws when Docker cannot serve operations now. */
  assertServing(): void
}
