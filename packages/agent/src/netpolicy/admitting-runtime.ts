// The runtime the domain drives, with one step added: a narrowed tool's new
// container (one the agent gave a MAC address, see model/egress) is refused
// everything by the network policy before it first starts, until the
// policy's next pass writes its own rules from its published view. Without
// it, the first moments of a new `none` or allow-list tool would have only
// the network-wide default.
import type { ContainerRuntime, ContainerSpec } from '../runtime/types.ts'

export interface Admission {
  /** Resolves once the policy's rules refuse everything from this MAC address (or the policy is off or degraded). */
  admit(mac: string): Promise<void>
}

export function admittingRuntime(runtime: ContainerRuntime, admission: Admission): ContainerRuntime {
  return new Proxy(runtime, {
    get(target, property, receiver) {
      if (property === 'create') {
        return async (spec: ContainerSpec) => {
          const id = await target.create(spec)
          if (spec.macAddress !== undefined) await admission.admit(spec.macAddress)
          return id
        }
      }
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  })
}
