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

  /** Replace everything with one listing of Docker's managed containers. */
  replaceAll(containers: ContainerInfo[]): void {
    this.byName.clear()
    for (const container of containers) {
      const name = instanceNameOf(container)
      if (name !== undefined && ownedBy(container, name)?.name === containerNameFor(name)) this.byName.set(name, container)
    }
  }

  /** Ask Docker about one instance and remember the answer. */
  async refresh(instanceName: string): Promise<ContainerInfo | undefined> {
    const container = ownedBy(await this.runtime.inspect(containerNameFor(instanceName)), instanceName)
    if (container === undefined) this.byName.delete(instanceName)
    else this.byName.set(instanceName, container)
    return container
  }

  delete(instanceName: string): void {
    this.byName.delete(instanceName)
  }
}
