// The fleet as the HTTP app sees it (FleetApi): the earlier agent's
// containers through the take-over, the agent's own upgrade through the
// redeployer. Built by the composition root.
import type { RedeployBody } from '@dtma/contract'
import type { FleetApi, LegacyView, UpgradeListener } from './fleet-api.ts'
import type { EarlierAgentContainers } from './legacy/legacy-service.ts'
import type { Redeployer } from './upgrade/redeployer.ts'

export class FleetService implements FleetApi {
  constructor(
    private readonly legacy: EarlierAgentContainers,
    private readonly redeployer: Redeployer
  ) {}

  async legacyCandidates(): Promise<LegacyView[]> {
    return (await this.legacy.candidates()).map(({ container, instanceName, accountToolInstanceId, reasons, whyNot }) => ({
      containerName: container.name,
      containerId: container.id,
      instanceName,
      accountToolInstanceId,
      image: container.image,
      ports: container.ports,
      created: container.created,
      dockerState: container.dockerState,
      reasons,
      whyNot
    }))
  }

  adopt(containerName: string, options: { accountToolInstanceId?: string; instanceNameOnToolbox?: string }) {
    return this.legacy.adopt(containerName, options)
  }

  redeploy(options: RedeployBody) {
    return this.redeployer.redeploy(options)
  }

  onUpgrade(listener: UpgradeListener): () => void {
    return this.redeployer.onUpgrade(listener)
  }

  lastUpgrade() {
    return this.redeployer.lastUpgrade()
  }
}
