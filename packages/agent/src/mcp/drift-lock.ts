// The tool-drift lock: the tool definitions a server showed when it first
// became ready (or an operator approved) are pinned per tool, per instance,
// in the store (model/tool-pins.ts). Every later listing of the monitor (a
// new container, a new image, a list_changed) is compared with the pins: a
// tool whose definition differs, or a tool new since approval (unless
// DTMA_MCP_ADMIT_NEW_TOOLS admits new ones), is withheld: callers' listings
// leave it out and their calls of it are refused (tool-grant.ts asks the
// ToolLock of the instance), until it is approved. An instance deployed with
// `drift: "auto-approve"` pins every change at once. Every detection is news
// on the health board (an `mcp` event, the registry's withheld column) and
// told to the observer (metrics). A removed tool just goes; its pin stays.
import type { McpDrift, ToolChange } from '@dtma/contract'
import type { Logger } from 'pino'
import type { DriftNews } from '../model/mcp-health.ts'
import type { PinSet, PinStore, ToolPin } from '../model/tool-pins.ts'
import { definitionFingerprint, toolDefinition, toolName } from './tool-definition.ts'

export interface DriftObserver {
  /** A listing showed tools that differ from their pins (counted once per change). */
  drifted(instanceName: string, tools: ToolChange[]): void
}

/** What the caller side asks of an instance's lock (tool-grant.ts). */
export interface ToolLock {
  /** This tool is withheld: a call of it is refused. */
  withholds(name: string): boolean
  /** This listed tool may be shown to callers (not withheld, and no pin it differs from). */
  shows(tool: unknown): boolean
  /** The sentence of a refused call of a withheld tool. */
  sentence(name: string): string
}

export interface DriftLockOptions {
  pins: PinStore
  admitNewTools: boolean
  observer: DriftObserver
  logger: Logger
}

interface Seen {
  fingerprint: string
  definition: Record<string, unknown>
}

interface InstanceLock {
  instanceId: string
  facts: LockFacts
  pins: PinSet
  /** The tools as the monitor last listed them. */
  current: Map<string, Seen>
  withheld: Map<string, 'changed' | 'new'>
  /** name + fingerprint of every change already told (a relist of the same change is not news again). */
  told: Set<string>
}

export interface LockFacts {
  instanceId: string
  drift: McpDrift
  /** One session to the server (stdio, sse): the monitor sees every tool a caller can. */
  shared: boolean
}

/** What a listing changes of the instance's health: its withheld tools, and the news of a drift. */
export interface LockReport {
  withheld: ToolChange[]
  drift?: DriftNews
}

export interface WithheldDetail {
  name: string
  change: 'changed' | 'new'
  pinned: Record<string, unknown> | null
  current: Record<string, unknown>
  pinnedAt: string | null
}

export class DriftLock {
  private readonly locks = new Map<string, InstanceLock>()

  constructor(private readonly options: DriftLockOptions) {}

  get admitNewTools(): boolean {
    return this.options.admitNewTools
  }

  /** The monitor listed the server's tools: pin them (first listing), or judge them against the pins. */
  listed(instanceName: string, facts: LockFacts, tools: ReadonlyArray<Record<string, unknown>>): LockReport {
    const now = new Date().toISOString()
    const current = new Map<string, Seen>()
    for (const tool of tools) {
      const name = toolName(tool)
      if (name !== undefined) current.set(name, { fingerprint: definitionFingerprint(tool), definition: toolDefinition(tool) })
    }
    let lock = this.locks.get(instanceName)
    if (lock === undefined || lock.instanceId !== facts.instanceId) {
      const stored = this.options.pins.read(facts.instanceId)
      if (stored === undefined) {
        // The first time this instance is ready: what it shows is what is approved.
        const pins = new Map([...current].map(([name, seen]) => [name, { ...seen, pinnedAt: now }] as const))
        this.options.pins.write(facts.instanceId, pins)
        this.locks.set(instanceName, { instanceId: facts.instanceId, facts, pins, current, withheld: new Map(), told: new Set() })
        return { withheld: [] }
      }
      lock = { instanceId: facts.instanceId, facts, pins: stored, current, withheld: new Map(), told: new Set() }
      this.locks.set(instanceName, lock)
    }
    lock.facts = facts
    lock.current = current
    const changes: ToolChange[] = []
    for (const [name, seen] of current) {
      const pin = lock.pins.get(name)
      if (pin === undefined) changes.push({ name, change: 'new' })
      else if (pin.fingerprint !== seen.fingerprint) changes.push({ name, change: 'changed' })
    }
    for (const name of lock.pins.keys()) if (!current.has(name)) changes.push({ name, change: 'removed' })
    const autoApprove = facts.drift === 'auto-approve'
    const admitted = changes.filter(({ change }) => change === 'new' ? autoApprove || this.options.admitNewTools : change === 'changed' && autoApprove)
    if (admitted.length > 0) this.pin(lock, admitted.map(({ name }) => name), now)
    lock.withheld = new Map()
    for (const { name, change } of changes) {
      if (change !== 'removed' && !admitted.some((tool) => tool.name === name)) lock.withheld.set(name, change)
    }
    const key = (change: ToolChange) => `${change.change} ${change.name} ${current.get(change.name)?.fingerprint ?? ''}`
    const fresh = changes.filter((change) => !lock.told.has(key(change)))
    lock.told = new Set(changes.map(key))
    const report: LockReport = { withheld: this.withheldOf(lock) }
    if (fresh.length === 0) return report
    this.options.observer.drifted(instanceName, fresh)
    const approved = fresh.every((change) => change.change === 'removed' || !lock.withheld.has(change.name)) ? 'auto' : null
    this.options.logger.warn({ instanceName, tools: fresh, withheld: report.withheld.map(({ name }) => name) }, approved === 'auto' ? 'MCP tools changed since approval: pinned automatically' : 'MCP tools changed since approval: withheld until approved')
    return { ...report, drift: { tools: fresh, approved, detectedAt: now } }
  }

  /** The caller side's view of an instance's lock (read at each use: it follows approvals and listings). */
  gate(instanceName: string, facts: LockFacts): ToolLock {
    return {
      withholds: (name) => this.lockOf(instanceName, facts)?.withheld.has(name) ?? false,
      shows: (tool) => {
        const lock = this.lockOf(instanceName, facts)
        const name = toolName(tool)
        if (lock === undefined || name === undefined) return true
        if (lock.withheld.has(name)) return false
        const pin = lock.pins.get(name)
        // Judged by definition too, before the monitor relisted (right after a start, or a list_changed
        // the caller heard first): a definition that differs from its pin is cut, and so is a tool
        // without a pin on a server whose one session the monitor shares (it is new), unless admitted.
        if (pin !== undefined) return pin.fingerprint === definitionFingerprint(tool as Record<string, unknown>)
        return !facts.shared || facts.drift === 'auto-approve' || this.options.admitNewTools
      },
      sentence: (name) => {
        const change = this.locks.get(instanceName)?.withheld.get(name)
        const shown = JSON.stringify(name.slice(0, 100))
        const what = change === 'new' ? `tool ${shown} is new since this server's tools were approved` : `tool ${shown} changed since it was approved (its description, schema or annotations differ from the approved ones)`
        const path = `/tools/${encodeURIComponent(instanceName)}/mcp`
        return `${what}: it is withheld until an operator approves it (GET ${path}/drift shows the change; POST ${path}/approve or \`dtma approve ${JSON.stringify(instanceName)} --tool ${shown}\` approves it)`
      }
    }
  }

  /** Pins the current definitions of these tools (all: every tool listed now). Returns what was approved and what stays withheld. */
  approve(instanceName: string, which: 'all' | readonly string[]): { approved: string[]; withheld: ToolChange[]; unknown: string[] } {
    const lock = this.locks.get(instanceName)
    if (lock === undefined) return { approved: [], withheld: [], unknown: which === 'all' ? [] : [...which] }
    const names = which === 'all' ? [...lock.current.keys()] : which.filter((name) => lock.current.has(name))
    const unknown = which === 'all' ? [] : which.filter((name) => !lock.current.has(name))
    const approved = names.filter((name) => lock.withheld.has(name)).sort()
    this.pin(lock, names, new Date().toISOString())
    for (const name of names) lock.withheld.delete(name)
    this.options.logger.info({ instanceName, approved }, 'MCP tools approved')
    return { approved, withheld: this.withheldOf(lock), unknown }
  }

  /** Each withheld tool with its approved and current definition. */
  details(instanceName: string): { pinned: string[]; withheld: WithheldDetail[] } {
    const lock = this.locks.get(instanceName)
    if (lock === undefined) return { pinned: [], withheld: [] }
    const withheld = [...lock.withheld].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, change]) => {
      const pin = lock.pins.get(name)
      return { name, change, pinned: pin?.definition ?? null, current: lock.current.get(name)?.definition ?? {}, pinnedAt: pin?.pinnedAt ?? null }
    })
    return { pinned: [...lock.pins.keys()].sort(), withheld }
  }

  /** The instance's lock; after an agent restart, before its first listing, made from the stored pins. */
  private lockOf(instanceName: string, facts: LockFacts): InstanceLock | undefined {
    const lock = this.locks.get(instanceName)
    if (lock !== undefined && lock.instanceId === facts.instanceId) return lock
    const pins = this.options.pins.read(facts.instanceId)
    if (pins === undefined) return undefined
    const loaded: InstanceLock = { instanceId: facts.instanceId, facts, pins, current: new Map(), withheld: new Map(), told: new Set() }
    this.locks.set(instanceName, loaded)
    return loaded
  }

  private pin(lock: InstanceLock, names: readonly string[], pinnedAt: string): void {
    const pins = new Map<string, ToolPin>()
    for (const name of names) {
      const seen = lock.current.get(name)
      if (seen !== undefined) pins.set(name, { ...seen, pinnedAt })
    }
    this.options.pins.write(lock.instanceId, pins)
    for (const [name, pin] of pins) lock.pins.set(name, pin)
  }

  private withheldOf(lock: InstanceLock): ToolChange[] {
    return [...lock.withheld].map(([name, change]) => ({ name, change })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }
}
