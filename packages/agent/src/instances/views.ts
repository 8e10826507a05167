// The published view of every instance: what list, get and the listeners
// (registry, event stream, heartbeat) see. A view is published after every
// operation, event and resync, and listeners hear it only when it really
// changed (compared as JSON). A status poll reads these, never the store or
// Docker, whatever the number of instances.
import type { Logger } from 'pino'
import type { InstanceView } from './view.ts'

/** What an instance looks like after a change; `view` undefined: it is gone. */
export interface InstanceChange {
  instanceName: string
  view: InstanceView | undefined
}

export type InstanceChangeListener = (change: InstanceChange) => void

export class InstanceViews {
  private readonly views = new Map<string, { view: InstanceView; json: string }>()
  /** views in name order, made again after a change. */
  private sorted: readonly InstanceView[] | undefined
  private readonly listeners = new Set<InstanceChangeListener>()

  constructor(private readonly logger: Logger) {}

  get size(): number {
    return this.views.size
  }

  names(): string[] {
    return [...this.views.keys()]
  }

  /** Records the current view of an instance (undefined: gone) and tells listeners if it changed. */
  publish(instanceName: string, view: InstanceView | undefined): void {
    const json = view === undefined ? '' : JSON.stringify(view)
    if ((this.views.get(instanceName)?.json ?? '') === json) return
    if (view === undefined) this.views.delete(instanceName)
    else this.views.set(instanceName, { view, json })
    this.sorted = undefined
    for (const listener of this.listeners) {
      try {
        listener({ instanceName, view })
      } catch (error) {
        this.logger.error({ err: error, instanceName }, 'instance change listener failed')
      }
    }
  }

  /** Every instance by name; the same array until an instance changes. */
  list(): readonly InstanceView[] {
    this.sorted ??= [...this.views]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, { view }]) => view)
    return this.sorted
  }

  get(instanceName: string): InstanceView | undefined {
    return this.views.get(instanceName)?.view
  }

  /** Current view of every instance, as listeners were told. */
  snapshot(): InstanceChange[] {
    return [...this.views].map(([instanceName, { view }]) => ({ instanceName, view }))
  }

  onChange(listener: InstanceChangeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
