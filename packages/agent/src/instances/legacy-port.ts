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
  /** Once, at the first sync with Docker (before the agent is ready): takes
   *  over the containers an earlier agent labelled. Never throws. */
  adoptAtStart(): Promise<void>
}

/** What a take-over needs of the domain; the instance service hands it over. */
export interface LegacyDomain {
  runtime: ContainerRuntime
  store: InstanceStore
  index: InstanceIndex
  logger: Logger
  stopTimeoutSeconds: number
  /** Every tool port binds to this address. */
  toolHostIp: string
  /** Runs work under an instance's lock (shared with the operations). */
  underLock<T>(instanceName: string, work: () => Promise<T>): Promise<T>
  publish(instanceName: string): void
  /** Throws when Docker cannot serve operations now. */
  assertServing(): void
}
