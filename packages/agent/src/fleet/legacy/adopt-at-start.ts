// At the agent's start, the containers the earlier agent's MCP routes
// labelled `agentopia.mcp.*` are taken over with the names and ids on their
// labels, without holding the API up: each is judged and its take-over
// journalled under its instance's lock (from then on the instance is listed,
// pending, and a call that names it waits for that instance only), then the
// take-overs run in the background, a bounded number at a time. Most of a
// take-over is waiting for the old container to stop (SIGTERM, then SIGKILL
// after the stop timeout), so the bound is generous: twenty containers that
// ignore SIGTERM are taken over in about one stop timeout, not twenty.
import type { Logger } from 'pino'
import type { LegacyDomain } from '../../instances/legacy-port.ts'
import type { ContainerInfo } from '../../runtime/types.ts'
import { AgentopiaMcpLabel, type LegacyContainer } from './earlier-agent.ts'
import { journalTakeOver, runTakeOver, type TakeOverWish } from './take-over.ts'

/** Take-overs (and judgements) at once at most. */
export const TAKE_OVER_CONCURRENCY = 32

/** Runs work with at most `size` pieces at a time, in arrival order. */
export class Slots {
  private active = 0
  private readonly waiting: Array<() => void> = []

  constructor(private readonly size: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    while (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.active++
    try {
      return await work()
    } finally {
      this.active--
      this.waiting.shift()?.()
    }
  }
}

export interface StartAdoption {
  domain: LegacyDomain
  log: Logger
  /** The container as the earlier agent's, on evidence, or undefined. */
  judge(id: string): Promise<LegacyContainer | undefined>
  /** Whether no instance of this agent has the name. */
  isFree(instanceName: string): Promise<boolean>
  /** What the take-over makes of it: its id from its labels, running if it ran. */
  wishFor(legacy: LegacyContainer, desiredState: 'running' | 'stopped'): TakeOverWish
}

function isLabelled(container: ContainerInfo): boolean {
  return !container.managed && container.labels[AgentopiaMcpLabel.server] === 'true'
}

/** Resolves once every take-over is journalled (or left alone); the take-overs go on. */
export async function adoptLabelledAtStart(adoption: StartAdoption): Promise<void> {
  const { domain, log } = adoption
  const slots = new Slots(TAKE_OVER_CONCURRENCY)
  const labelled = (await domain.runtime.listAll()).filter(isLabelled)
  const judged = await Promise.all(
    labelled.map((summary) =>
      slots.run(() => adoption.judge(summary.id)).catch((error: unknown) => {
        log.warn({ err: error, containerName: summary.name }, "could not judge an earlier agent's labelled container; it keeps running as it is")
        return undefined
      })
    )
  )
  const byName = new Map<string, LegacyContainer>()
  for (const legacy of judged) {
    if (legacy === undefined) continue
    const first = byName.get(legacy.instanceName)
    if (first === undefined) byName.set(legacy.instanceName, legacy)
    else log.warn({ instanceName: legacy.instanceName, containerName: legacy.container.name, taken: first.container.name }, "two of the earlier agent's labelled containers name one instance: only the first is taken over")
  }
  await Promise.all([...byName.values()].map((legacy) => journalThenTakeOver(adoption, slots, legacy)))
}

/** Queues one take-over under its instance's lock; resolves once it is journalled (or left alone). */
function journalThenTakeOver(adoption: StartAdoption, slots: Slots, legacy: LegacyContainer): Promise<void> {
  const { domain } = adoption
  const { instanceName } = legacy
  const log = adoption.log.child({ instanceName, operation: 'adopt' })
  return new Promise<void>((journalled) => {
    void domain
      .underLock(instanceName, async () => {
        try {
          if (!(await adoption.isFree(instanceName))) {
            log.warn({ containerName: legacy.container.name }, "an earlier agent's labelled container names an instance this agent has: left alone")
            return
          }
          const running = legacy.container.dockerState === 'running' || legacy.container.dockerState === 'restarting'
          const record = journalTakeOver(domain, legacy, adoption.wishFor(legacy, running ? 'running' : 'stopped'))
          domain.publish(instanceName)
          journalled()
          await slots.run(() => runTakeOver(domain, legacy, record, 'start', log))
        } finally {
          journalled()
        }
      })
      .catch((error: unknown) => log.warn({ err: error, containerName: legacy.container.name }, "could not take over an earlier agent's labelled container; it keeps running as it is"))
      .finally(() => domain.publish(instanceName))
  })
}
