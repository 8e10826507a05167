// Restarts the container of an MCP server that stopped answering, through
// the instances domain (under the instance's lock), with exponential backoff
// and a cap: the first restart at once, then 2 s, 4 s, ... up to the cap,
// counted from the last restart; a server that stayed up a while starts over.
// The wait is said in the server's status; restarts are counted and logged.
import type { Logger } from 'pino'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { McpHealthBoard } from './health-board.ts'

const FIRST_BACKOFF_MS = 2000
/** After this long without a restart, the next one is a first one again. */
const CALM_MS = 10 * 60 * 1000

export interface RestartObserver {
  restarted(outcome: 'ok' | 'failed'): void
}

export interface SelfHealOptions {
  instances: Pick<InstanceApi, 'get' | 'restart'>
  board: McpHealthBoard
  backoffMaxMs: number
  enabled: boolean
  logger: Logger
  observer: RestartObserver
}

export class McpSelfHeal {
  private readonly state = new Map<string, { restarts: number; lastAt: number; timer?: NodeJS.Timeout }>()

  constructor(private readonly options: SelfHealOptions) {}

  /** The server of this instance does not answer. */
  unresponsive(instanceName: string, reason: string): void {
    const { logger, enabled, backoffMaxMs } = this.options
    if (!enabled) return void logger.warn({ instanceName, reason }, 'MCP server unresponsive (self-heal is off: not restarted)')
    const now = Date.now()
    const entry = this.state.get(instanceName) ?? { restarts: 0, lastAt: 0 }
    if (entry.timer !== undefined) return
    if (now - entry.lastAt > CALM_MS) entry.restarts = 0
    const delay = entry.restarts === 0 ? 0 : Math.min(backoffMaxMs, FIRST_BACKOFF_MS * 2 ** (entry.restarts - 1))
    this.state.set(instanceName, entry)
    this.options.board.update(instanceName, { status: 'unresponsive', lastError: `${reason}; restarting its container${delay === 0 ? ' now' : ` in ${Math.round(delay / 1000)} s`} (restart ${entry.restarts + 1})` })
    logger.warn({ instanceName, reason, delayMs: delay, restart: entry.restarts + 1 }, 'MCP server unresponsive: restarting its container')
    entry.timer = setTimeout(() => void this.restart(instanceName, entry), delay)
    entry.timer.unref()
  }

  forget(instanceName: string): void {
    clearTimeout(this.state.get(instanceName)?.timer)
    this.state.delete(instanceName)
  }

  close(): void {
    for (const name of [...this.state.keys()]) this.forget(name)
  }

  private async restart(instanceName: string, entry: { restarts: number; lastAt: number; timer?: NodeJS.Timeout }): Promise<void> {
    entry.timer = undefined
    entry.restarts += 1
    entry.lastAt = Date.now()
    try {
      // Only what should run and runs: a user's stop since then wins.
      const view = this.options.instances.get(instanceName)
      if (view.desiredState !== 'running' || view.dockerState !== 'running') return
      await this.options.instances.restart(instanceName)
      this.options.observer.restarted('ok')
    } catch (error) {
      this.options.observer.restarted('failed')
      this.options.logger.warn({ instanceName, err: error }, 'restart of an unresponsive MCP server failed; the monitor tries again')
    }
  }
}
