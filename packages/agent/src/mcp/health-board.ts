// What the agent last saw of every MCP server, by instance name: the health
// monitors write here, the instances' views read it. A change that matters
// (status, error, server info, tools) makes the instance's view be published
// again at once; ping times and check times alone at most once a minute, so
// a healthy server does not turn every ping into an event and a registry write.
import type { McpHealth, McpHealthSource } from '../model/mcp-health.ts'

/** Reports carry check times and ping round trips at most this old. */
const REFRESH_MS = 60_000

export function initialHealth(status: McpHealth['status']): McpHealth {
  return { status, protocolVersion: null, serverInfo: null, serverCapabilities: null, lastPingMs: null, toolsCount: null, toolsFingerprint: null, checkedAt: null, lastError: null, tools: null, withheld: [], drift: null }
}

/** Everything but the times (only whether there are any): what makes a change worth telling at once. */
function significant(health: McpHealth): string {
  return JSON.stringify({ ...health, lastPingMs: health.lastPingMs === null, checkedAt: health.checkedAt === null })
}

export class McpHealthBoard implements McpHealthSource {
  private readonly entries = new Map<string, { health: McpHealth; told: string; toldAt: number }>()
  private readonly listeners = new Set<(instanceName: string) => void>()

  health(instanceName: string): McpHealth | undefined {
    return this.entries.get(instanceName)?.health
  }

  /** Listeners hear of an instance whose health should be published again (after the current turn of events). */
  onChange(listener: (instanceName: string) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  update(instanceName: string, change: Partial<McpHealth>): void {
    const entry = this.entries.get(instanceName)
    const health = { ...(entry?.health ?? initialHealth('starting')), ...change }
    const told = significant(health)
    const now = Date.now()
    if (entry !== undefined && entry.told === told && now - entry.toldAt < REFRESH_MS) {
      entry.health = health
      return
    }
    this.entries.set(instanceName, { health, told, toldAt: now })
    // Deferred: a view listener that caused this must not see its views out of order.
    queueMicrotask(() => {
      for (const listener of this.listeners) listener(instanceName)
    })
  }

  forget(instanceName: string): void {
    this.entries.delete(instanceName)
  }
}
