// What the HTTP app needs of the fleet: the containers an earlier agent left
// (listed, adopted) and the agent's upgrade of itself (started, followed).
// The app is built on this interface; fleet/fleet-service.ts implements it.
import type { LegacyReason, RedeployBody, UpgradeEvent } from '@dtma/contract'
import type { PortBinding } from '../runtime/types.ts'

/** A container without DTMA's labels, as the API lists it: the earlier agent's on evidence, or why not. */
export interface LegacyView {
  containerName: string
  containerId: string
  instanceName: string
  accountToolInstanceId: string | undefined
  image: string
  ports: PortBinding[]
  /** unix seconds */
  created: number
  dockerState: string
  reasons: LegacyReason[]
  /** undefined: the earlier agent's, taken over when a call names it; otherwise why it is never touched. */
  whyNot: string | undefined
}

export type UpgradeListener = (event: UpgradeEvent) => void

export interface FleetApi {
  legacyCandidates(): Promise<LegacyView[]>
  /** Takes over a candidate by its Docker name; answers the instance it became. */
  adopt(containerName: string, options: { accountToolInstanceId?: string; instanceNameOnToolbox?: string }): Promise<{ instanceName: string; warnings: string[] }>
  /** Starts the upgrade in a helper container; answers at once. */
  redeploy(options: RedeployBody): Promise<{ operationId: string; message: string }>
  /** Events of the current (or last) upgrade, as it goes. */
  onUpgrade(listener: UpgradeListener): () => void
  /** The last event of the last upgrade this agent saw, for a client that connects later. */
  lastUpgrade(): UpgradeEvent | undefined
}
