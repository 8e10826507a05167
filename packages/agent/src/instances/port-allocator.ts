// Host ports for tool containers. Agentopia's services ask for host port
// 30000 (the agent's own) on every deploy, and for none at all in other
// shapes: an asked port that is the agent's or another instance's is
// replaced by a free port of the tool range (unless reassignment is off:
// then it is a 409), and "any port" takes one from the range. A port is
// held by an instance for as long as its record exists, running or stopped,
// so the store is the ledger: the allocation is read from it and written to
// it in the same synchronous step, and concurrent deploys never share a port.
import { DtmaError } from '../errors.ts'
import type { PortBinding } from '../runtime/types.ts'

export interface PortPolicy {
  /** The tool port range, both ends included. */
  first: number
  last: number
  /** Replace an asked port that is the agent's own or another instance's
   *  by a free one of the range; false: such an ask is a 409. */
  reassign: boolean
  /** The agent's own listen port: never handed to a tool. */
  agentPort: number
}

export interface PortHolder {
  instanceName: string
  ports: readonly PortBinding[]
}

export interface PortAllocation {
  ports: PortBinding[]
  /** One sentence per asked port that was replaced, for the caller. */
  reassigned: string[]
  /** Host ports this allocation took from the range (retried elsewhere if Docker finds them taken). */
  fromRange: Set<number>
}

/** How long a port found taken outside DTMA is skipped before it is tried again. */
const OUTSIDE_HOLD_MS = 5 * 60_000

export class PortAllocator {
  /** Host port key ("30001/tcp") -> until when something outside DTMA held it. */
  private readonly heldOutside = new Map<string, number>()

  constructor(
    private readonly policy: PortPolicy,
    private readonly holders: () => Iterable<PortHolder>,
    private readonly now: () => number = Date.now
  ) {}

  /** Chooses the host ports of one instance; synchronous on purpose (see the header). */
  allocate(instanceName: string, asked: readonly PortBinding[]): PortAllocation {
    const taken = new Map<string, string>()
    for (const holder of this.holders()) {
      if (holder.instanceName === instanceName) continue
      for (const port of holder.ports) taken.set(`${port.host_port}/${port.protocol}`, holder.instanceName)
    }
    const allocation: PortAllocation = { ports: [], reassigned: [], fromRange: new Set() }
    // A range pick never takes a port this same deploy asks for by number.
    const askedHere = new Set(asked.filter((port) => port.host_port !== 0).map((port) => `${port.host_port}/${port.protocol}`))
    for (const port of asked) {
      const reason = this.whyNot(port, taken)
      if (reason === undefined) {
        allocation.ports.push(port)
        continue
      }
      if (port.host_port !== 0 && !this.policy.reassign) {
        throw new DtmaError('port-conflict', `Host port ${port.host_port}/${port.protocol} is ${reason}`)
      }
      const hostPort = this.freeRangePort(port.protocol, taken, askedHere)
      taken.set(`${hostPort}/${port.protocol}`, instanceName)
      allocation.fromRange.add(hostPort)
      allocation.ports.push({ ...port, host_port: hostPort })
      if (port.host_port !== 0) allocation.reassigned.push(`host port ${port.host_port} is ${reason}: ${port.container_port}/${port.protocol} is bound to ${hostPort} instead`)
    }
    return { ...allocation, ports: allocation.ports.sort((a, b) => a.host_port - b.host_port || a.protocol.localeCompare(b.protocol)) }
  }

  /** Docker found this host port taken by something outside DTMA: skip it for a while. */
  heldOutsideDtma(hostPort: number, protocol: string): void {
    this.heldOutside.set(`${hostPort}/${protocol}`, this.now() + OUTSIDE_HOLD_MS)
  }

  /** Why an asked port cannot be bound as asked (taken: other instances' ports), or undefined. */
  private whyNot(port: PortBinding, taken: Map<string, string>): string | undefined {
    if (port.host_port === 0) return 'any'
    if (port.host_port === this.policy.agentPort && port.protocol === 'tcp') return "the DTMA agent's own port"
    const holder = taken.get(`${port.host_port}/${port.protocol}`)
    return holder === undefined ? undefined : `already used by tool instance '${holder}'`
  }

  private freeRangePort(protocol: string, taken: Map<string, string>, askedHere: Set<string>): number {
    const now = this.now()
    for (let hostPort = this.policy.first; hostPort <= this.policy.last; hostPort++) {
      const key = `${hostPort}/${protocol}`
      if (hostPort === this.policy.agentPort && protocol === 'tcp') continue
      if (taken.has(key) || askedHere.has(key) || (this.heldOutside.get(key) ?? 0) > now) continue
      return hostPort
    }
    throw new DtmaError('port-conflict', `No free host port left in the tool port range ${this.policy.first}-${this.policy.last}`)
  }
}
