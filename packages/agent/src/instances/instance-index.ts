// The in-memory index of managed containers by instance name: rebuilt from
// Docker at start and on every resync, kept current by Docker events and by
// DTMA's own operations. It is a cache of Docker's truth, never the truth.
import type { ContainerInfo, ContainerRuntime } from '../runtime/types.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import { containerNameFor } from './container-name.ts'

/** A container of this agent that belongs to this instance name, or undefined. */
export function ownedBy(container: ContainerInfo | undefined, instanceName: string): ContainerInfo | undefined {
  return container?.managed === true && container.labels[InstanceLabel.instanceName] === instanceName ? container : undefined
}

export function instanceNameOf(container: ContainerInfo): string | undefined {
  return container.labels[InstanceLabel.instanceName]
}

export class InstanceIndex {
  private readonly byName = new Map<string, ContainerInfo>()

  constructor(private readonly runtime: ContainerRuntime) {}

  get(instanceName: string): ContainerInfo | undefined {
    return this.byName.get(instanceName)
  }

  names(): string[] {
    return [...this.byName.keys()]
  }

  values(): ContainerInfo[] {
    return [...this.byName.values()]
  }

  /** Replace everything with one listing of Docker's managed containers.
   *  A listing does not say when a container started: what an inspect or an
   *  event said of the same container in the same state is kept, and a
   *  running container not known yet is inspected for it. */
  async replaceAll(containers: ContainerInfo[]): Promise<void> {
    const before = new Map(this.byName)
    this.byName.clear()
    const unknown: string[] = []
    for (const container of containers) {
      const name = instanceNameOf(container)
      if (name === undefined || ownedBy(container, name)?.name !== containerNameFor(name)) continue
      const known = before.get(name)
      const startedAt = container.startedAt ?? (known?.id === container.id && known.dockerState === container.dockerState ? known.startedAt : undefined)
      this.byName.set(name, startedAt === undefined ? container : { ...container, startedAt })
      if (startedAt === undefined && container.dockerState === 'running') unknown.push(name)
    }
    await Promise.all(unknown.map((name) => this.startTimeOf(name)))
  }

  /** Ask Docker about one instance and remember the answer. */
  async refresh(instanceName: string): Promise<ContainerInfo | undefined> {
    const container = ownedBy(await this.runtime.inspect(containerNameFor(instanceName)), instanceName)
    if (container === undefined) this.byName.delete(instanceName)
    else this.byName.set(instanceName, container)
    return container
  }

  /** Fills in when a listed container started; a failed inspect leaves it unknown until the next event or resync. */
  private async startTimeOf(instanceName: string): Promise<void> {
    const listed = this.byName.get(instanceName)
    const inspected = await this.runtime.inspect(listed?.id ?? '').catch(() => undefined)
    if (listed !== undefined && inspected?.startedAt !== undefined && this.byName.get(instanceName) === listed) {
      this.byName.set(instanceName, { ...listed, startedAt: inspected.startedAt })
    }
  }

  delete(instanceName: string): void {
    this.byName.delete(instanceName)
  }
}
