// The upgrader's progress, one event per step (@dtma/contract UpgradeEvent):
// a JSON line each for the agent that follows a helper (--json), a sentence
// each for an operator at a terminal. Secrets never reach it: messages name
// containers, images, versions and durations only.
import type { UpgradeEvent } from '@dtma/contract'

export type Step = UpgradeEvent['step']
export type Status = UpgradeEvent['status']

export class Report {
  private readonly started = Date.now()

  constructor(
    private readonly operationId: string,
    private readonly write: (line: string) => void,
    private readonly json: boolean
  ) {}

  elapsedMs(): number {
    return Date.now() - this.started
  }

  event(step: Step, status: Status, message: string): UpgradeEvent {
    const event: UpgradeEvent = { operation_id: this.operationId, step, status, message, elapsed_ms: this.elapsedMs(), time: new Date().toISOString() }
    const seconds = (event.elapsed_ms / 1000).toFixed(1)
    this.write(this.json ? JSON.stringify(event) : `dtma-upgrade [${seconds}s] ${step}${status === 'running' ? '' : ` (${status})`}: ${message}`)
    return event
  }
}
