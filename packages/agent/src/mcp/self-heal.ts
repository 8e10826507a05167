// Restarts the container of an MCP server that stopped answering, through
// the instances domain (under the instance's lock), again and again while it
// stays broken, with exponential backoff and a cap: the first restart at
// once, then 2 s, 4 s, ... up to the cap, each counted from the moment the
// server was found not answering again; a server that went this long without
// a restart starts over. The wait is said in the server's status; restarts
// are counted and logged. A server that answers again before its turn is
// not restarted.
import type { Logger } from 'pino'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { McpHealthBoard } from './health-board.ts'

/** After this long without a restart, the next one is a first one again. */
const CALM_MS = 10 * 60 * 1000

export interface RestartObserver {
  restarted(outcome: 'ok' | 'failed'): void
}

export interface SelfHealOptions {
  instances: Pick<InstanceApi, 'get' | 'restart'>
  board: McpHealthBoard
  /** The wait before the second restart (default 2 s); it doubles with every restart after it. */
  backoffFirstMs?: number
  backoffMaxMs: number
  enabled: boolean
  logger: Logger
  observer: RestartObserver
}

interface HealState {
  restarts: number
  lastAt: number
  /** A restart is due at dueAt. */
  timer?: NodeJS.Timeout
  dueAt?: number
  /** A restart is under way. */
  restarting?: boolean
}

export class McpSelfHeal {
  private readonly state = new Map<string, HealState>()

  constructor(private readonly options: SelfHealOptions) {}

  /** The wait before restart number `restarts + 1`. */
  backoff(restarts: number): number {
    const first = this.options.backoffFirstMs ?? 2000
    return restarts === 0 ? 0 : Math.min(this.options.backoffMaxMs, first * 2 ** (restarts - 1))
  }

  /** The server of this instance does not answer (said again after every failed check while it stays so). */
  unresponsive(instanceName: string, reason: string): void {
    const { logger, enabled, board } = this.options
    if (!enabled) return void logger.warn({ instanceName, reason }, 'MCP server unresponsive (self-heal is off: not restarted)')
    const now = Date.now()
    const entry = this.state.get(instanceName) ?? { restarts: 0, lastAt: 0 }
    this.state.set(instanceName, entry)
    if (entry.restarting === true) return
    if (entry.timer !== undefined) {
      // Already due: keep saying when.
      return board.update(instanceName, { lastError: `${reason}; restarting its container in ${Math.ceil(((entry.dueAt ?? now) - now) / 1000)} s (restart ${entry.restarts + 1})` })
    }
    if (now - entry.lastAt > CALM_MS) entry.restarts = 0
    const delay = this.backoff(entry.restarts)
    board.update(instanceName, { status: 'unresponsive', lastError: `${reason}; restarting its container${delay === 0 ? ' now' : ` in ${Math.round(delay / 1000)} s`} (restart ${entry.restarts + 1})` })
    logger.warn({ instanceName, reason, delayMs: delay, restart: entry.restarts + 1 }, 'MCP server unresponsive: restarting its container')
    entry.dueAt = now + delay
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

  private async restart(instanceName: string, entry: HealState): Promise<void> {
    entry.timer = undefined
    entry.dueAt = undefined
    // It answered again while waiting (or is being initialized after a start): nothing to heal now.
    if (this.options.board.health(instanceName)?.status !== 'unresponsive') return
    entry.restarts += 1
    entry.lastAt = Date.now()
    entry.restarting = true
    try {
      // Only what should run and runs: a user's stop since then wins.
      const view = this.options.instances.get(instanceName)
      if (view.desiredState !== 'running' || view.dockerState !== 'running') return
      await this.options.instances.restart(instanceName)
      this.options.observer.restarted('ok')
    } catch (error) {
      this.options.observer.restarted('failed')
      this.options.logger.warn({ instanceName, err: error }, 'restart of an unresponsive MCP server failed; the monitor tries again')
    } finally {
      entry.restarting = false
    }
  }
}
