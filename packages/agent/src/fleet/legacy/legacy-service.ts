// The take-over of an earlier agent's containers, as the domain asks for it
// (LegacyTakeover) and as operators drive it (list the candidates, adopt
// one). A deploy that names an earlier agent's container takes it over
// instead of making a second one; a start, stop or restart that names one
// takes it over too (its id comes with the first deploy), and a delete
// removes it, so no caller's sequence leaves a container behind. At start
// the containers the earlier agent's MCP routes labelled are taken over with
// the names and ids on their labels (adopt-at-start). Only a container that
// earlier-agent.ts finds to be the earlier agent's on evidence is ever
// touched: for anything else a call that names it is a call on a name this
// agent does not know (a 404, or a deploy of a new instance beside it).
import type { Logger } from 'pino'
import { DtmaError } from '../../errors.ts'
import type { DeployOutcome } from '../../instances/deploy.ts'
import type { DeployRequest } from '../../instances/deploy-request.ts'
import { assertReachableName } from '../../instances/instance-name.ts'
import type { LegacyDomain, LegacyTakeover, LifecycleAction } from '../../instances/legacy-port.ts'
import { isGone } from '../../instances/view.ts'
import type { ContainerInfo, ImageDefaults } from '../../runtime/types.ts'
import type { InstanceRecord } from '../../store/instance-store.ts'
import { adoptLabelledAtStart, Slots, TAKE_OVER_CONCURRENCY } from './adopt-at-start.ts'
import { asLegacy, isDockerName, isDtmas, judgeContainer, type JudgedContainer, type LegacyContainer } from './earlier-agent.ts'
import { completeTakeOver, takeOverOnDeploy } from './deploy-take-over.ts'
import { takeOver } from './take-over.ts'

export interface AdoptOptions {
  accountToolInstanceId?: string
  instanceNameOnToolbox?: string
}

export class EarlierAgentContainers implements LegacyTakeover {
  private readonly log: Logger

  private readonly agentPort: number

  constructor(
    private readonly domain: LegacyDomain,
    /** agentPort: a container publishing it is an agent, never a tool; adoptLabelled: take over labelled ones at start. */
    private readonly settings: { agentPort: number; adoptLabelled: boolean }
  ) {
    this.agentPort = settings.agentPort
    this.log = domain.logger.child({ component: 'legacy' })
  }

  async deploy(request: DeployRequest, known: { record: InstanceRecord | undefined; container: ContainerInfo | undefined }): Promise<DeployOutcome | undefined> {
    const { record, container } = known
    if (record?.spec.takenOverFrom !== undefined && record.pendingOperation === null && container !== undefined) {
      return completeTakeOver(this.domain, request, record, container)
    }
    if (!isGone(record, container)) return undefined
    const legacy = await this.named(request.spec.instanceName)
    return legacy === undefined ? undefined : takeOverOnDeploy(this.domain, request, legacy)
  }

  async lifecycle(instanceName: string, action: LifecycleAction): Promise<boolean> {
    const legacy = await this.named(instanceName)
    if (legacy === undefined) return false
    const log = this.log.child({ instanceName, operation: action })
    if (action === 'remove') {
      await this.domain.runtime.remove(legacy.container.id)
      log.info({ containerId: legacy.container.id, reasons: legacy.reasons }, "removed an earlier agent's container by its name")
      return true
    }
    await takeOver(this.domain, legacy, { ...this.wishFor(legacy, action === 'stop' ? 'stopped' : 'running'), trigger: 'lifecycle' }, log)
    return true
  }

  async adoptAtStart(): Promise<void> {
    if (!this.settings.adoptLabelled) return
    try {
      await adoptLabelledAtStart({
        domain: this.domain,
        log: this.log,
        judge: (id) => this.judge(id),
        isFree: (instanceName) => this.isFree(instanceName),
        wishFor: (legacy, desiredState) => ({ ...this.wishFor(legacy, desiredState), trigger: 'start' })
      })
    } catch (error) {
      this.log.warn({ err: error }, "looking for an earlier agent's labelled containers failed; they keep running as they are")
    }
  }

  /** Every container without DTMA's labels, judged: the earlier agent's on evidence, or why not. */
  async candidates(): Promise<JudgedContainer[]> {
    this.domain.assertServing()
    // DTMA's own containers, of any scope, are never candidates: not even inspected.
    const others = (await this.domain.runtime.listAll()).filter((container) => !isDtmas(container))
    const images = new Map<string, Promise<ImageDefaults>>()
    const slots = new Slots(TAKE_OVER_CONCURRENCY)
    const judged = await Promise.all(
      others.map((summary) =>
        slots.run(async () => {
          const container = await this.domain.runtime.inspect(summary.id)
          if (container === undefined || container.managed) return undefined
          if (!images.has(container.image)) images.set(container.image, this.domain.runtime.imageDefaults(container.image))
          return judgeContainer(container, { agentPort: this.agentPort, image: await (images.get(container.image) as Promise<ImageDefaults>) })
        })
      )
    )
    return judged.filter((verdict): verdict is JudgedContainer => verdict !== undefined).sort((a, b) => a.container.name.localeCompare(b.container.name))
  }

  /** Takes over a candidate by its Docker name; answers the instance name and what to tell the caller. */
  async adopt(containerName: string, options: AdoptOptions): Promise<{ instanceName: string; warnings: string[] }> {
    this.domain.assertServing()
    const legacy = await this.byDockerName(containerName)
    if (legacy === undefined) throw new DtmaError('not-found', `No container of an earlier agent is named '${containerName}' (GET /tools/legacy lists them, and says why others are not taken)`)
    const instanceName = options.instanceNameOnToolbox ?? legacy.instanceName
    assertReachableName(instanceName)
    const accountToolInstanceId = options.accountToolInstanceId ?? legacy.accountToolInstanceId
    const warnings = accountToolInstanceId === undefined ? [`no account tool instance id: the first deploy of '${instanceName}' brings it`] : []
    await this.domain.underLock(instanceName, async () => {
      try {
        if (!(await this.isFree(instanceName))) throw new DtmaError('conflict', `Tool instance '${instanceName}' already exists; adopt the container under another name (instanceNameOnToolbox)`)
        const running = legacy.container.dockerState === 'running'
        const wish = { ...this.wishFor(legacy, running ? 'running' : 'stopped'), instanceName, accountToolInstanceId: accountToolInstanceId ?? '', trigger: 'adopt' as const }
        await takeOver(this.domain, legacy, wish, this.log.child({ instanceName, operation: 'adopt' }))
      } finally {
        this.domain.publish(instanceName)
      }
    })
    return { instanceName, warnings }
  }

  /** A take-over no deploy asked for: its id from its labels (or '' until a deploy brings it). */
  private wishFor(legacy: LegacyContainer, desiredState: 'running' | 'stopped') {
    return { instanceName: legacy.instanceName, accountToolInstanceId: legacy.accountToolInstanceId ?? '', desiredState, takenOverFrom: legacy.container.name }
  }

  private async isFree(instanceName: string): Promise<boolean> {
    return isGone(this.domain.store.get(instanceName), await this.domain.index.refresh(instanceName))
  }

  /** The earlier agent's container that a caller's instance name names, or undefined. */
  private async named(instanceName: string): Promise<LegacyContainer | undefined> {
    if (!isDockerName(instanceName)) return undefined
    const legacy = await this.byDockerName(instanceName)
    return legacy?.instanceName === instanceName ? legacy : undefined
  }

  private async byDockerName(containerName: string): Promise<LegacyContainer | undefined> {
    const name = containerName.replace(/^\//, '')
    if (!isDockerName(name)) return undefined
    const legacy = await this.judge(name)
    // Docker also finds a container by a prefix of its id: only the exact name counts.
    return legacy?.container.name === name ? legacy : undefined
  }

  private async judge(nameOrId: string): Promise<LegacyContainer | undefined> {
    const container = await this.domain.runtime.inspect(nameOrId)
    if (container === undefined || container.managed) return undefined
    return asLegacy(container, { agentPort: this.agentPort, image: await this.domain.runtime.imageDefaults(container.image) })
  }
}
