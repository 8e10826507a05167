// Keeps the tool network policy in force: installs its chains and hooks at
// start, builds them again whenever an instance's container or egress
// changes (a container that starts again may have a new address: after an
// engine restart they all do) and on every resync tick, puts back a hook
// someone removed (and counts it), and says what is in force. Rules stay
// when the agent stops: the toolbox fails closed.
import { existsSync } from 'node:fs'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import { hostAddresses, parseAllowList, type Family } from '../model/egress.ts'
import type { NetworkInspector } from '../runtime/types.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import { allowedAddress, HostNameCache, hostNameservers, systemResolve, type Resolve } from './addresses.ts'
import type { IptablesExecutor } from './executor.ts'
import { planHooks, restoreText } from './hooks.ts'
import type { NetworkPolicyApi, NetworkPolicyMode, NetworkPolicyObserver, NetworkPolicyStatus } from './netpolicy-api.ts'
import { chainNames, chainsRestoreText, cidrTarget, familyOf, type InstanceRules, type PolicyInput, type ResolvedTarget } from './rules.ts'

export interface EnforcerOptions {
  mode: NetworkPolicyMode
  scope: string
  /** The tools' network (by name). */
  network: string
  instances: InstanceApi
  inspector: NetworkInspector
  executor: IptablesExecutor
  logger: Logger
  resyncIntervalMs: number
  resolveIntervalMs: number
  observer?: NetworkPolicyObserver
  resolve?: Resolve
  /** Families to enforce; default IPv4, and IPv6 when the kernel has it. */
  families?: Family[]
  nameservers?: () => string[]
}

const FAMILY_NAME = { 4: 'ipv4', 6: 'ipv6' } as const

export class NetworkPolicyEnforcer implements NetworkPolicyApi {
  private state: NetworkPolicyStatus
  private installedOnce = false
  private running: Promise<void> | undefined
  private again = false
  private timer: NodeJS.Timeout | undefined
  private unsubscribe: (() => void) | undefined
  private readonly seen = new Map<string, string>()
  private readonly names: HostNameCache
  private closed = false
  private firstPass: Promise<void> | undefined

  constructor(private readonly options: EnforcerOptions) {
    this.state = options.mode === 'off' ? { state: 'off', reason: 'DTMA_NETWORK_POLICY=off: the agent installs no rules (rules an earlier agent installed stay)', rules: 0, families: [] } : { state: 'degraded', reason: 'the network policy is not installed yet', rules: 0, families: [] }
    this.names = new HostNameCache(options.resolve ?? systemResolve, options.resolveIntervalMs, (host, error) => options.logger.warn({ host, err: error.message }, 'an egress allow-list host name did not resolve: its last addresses are kept'))
  }

  status(): NetworkPolicyStatus {
    return { ...this.state, families: [...this.state.families] }
  }

  async assertEnforced(): Promise<void> {
    if (!this.installedOnce && this.firstPass !== undefined) await this.firstPass
    if (this.state.state !== 'degraded') return
    throw new DtmaError('network-policy-unavailable', `the tool network policy cannot be enforced on this toolbox: ${this.state.reason ?? 'unknown reason'}; no tool is deployed or started unprotected (see docs/arch/01-network-policy.md)`)
  }

  /** The first install, before the agent serves: the network-wide and host chains and every hook; this
   *  agent's chain is made when missing and otherwise left as the last agent wrote it (its instances'
   *  egress is known after the first reconcile: see follow). The gate of deploys waits for it. */
  async install(): Promise<void> {
    if (this.options.mode === 'off') {
      this.options.logger.warn('the tool network policy is off (DTMA_NETWORK_POLICY=off): tools may reach the host, cloud metadata and private networks')
      return
    }
    this.firstPass = this.pass(true)
    await this.firstPass
  }

  /** After the first reconcile: every instance's rules, then again on each change of a container and every tick. */
  async follow(): Promise<void> {
    if (this.options.mode === 'off' || this.closed) return
    this.unsubscribe = this.options.instances.onChange(({ instanceName, view }) => {
      const key = view === undefined ? '' : JSON.stringify([view.containerId, view.startedAt, view.dockerState, view.egress])
      if (this.seen.get(instanceName) === key) return
      if (view === undefined) this.seen.delete(instanceName)
      else this.seen.set(instanceName, key)
      void this.sync()
    })
    this.timer = setInterval(() => void this.sync(), this.options.resyncIntervalMs)
    this.timer.unref()
    await this.sync()
  }

  /** install, then follow (a test's or a program's one call). */
  async start(): Promise<void> {
    await this.install()
    await this.follow()
  }

  close(): void {
    this.closed = true
    this.unsubscribe?.()
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  /** One pass at a time; a request during a pass runs one more after it. */
  sync(): Promise<void> {
    if (this.closed || this.options.mode === 'off') return Promise.resolve()
    if (this.running !== undefined) {
      this.again = true
      return this.running
    }
    this.running = (async () => {
      do {
        this.again = false
        await this.pass()
      } while (this.again && !this.closed)
    })().finally(() => (this.running = undefined))
    return this.running
  }

  private families(): Family[] {
    return this.options.families ?? (existsSync('/proc/sys/net/ipv6') ? [4, 6] : [4])
  }

  private async pass(base = false): Promise<void> {
    let input: PolicyInput
    try {
      input = await this.policyInput(base)
    } catch (error) {
      // The engine away (a restart): the rules installed stay in force; the next pass after it follows the new addresses.
      if (this.installedOnce) return void this.options.logger.warn({ reason: (error as Error).message }, 'network policy: the engine cannot be read now; the rules in place stay')
      return this.degrade(error as Error)
    }
    try {
      let rules = 0
      const missing: string[] = []
      for (const family of this.families()) {
        // The first install keeps this agent's chain as it is (a restarted agent's instances stay as they were).
        const keepAgentChain = base && (await this.options.executor.list(family, input.chains.agent)) !== undefined
        const chains = chainsRestoreText(family, input, { agentChain: !keepAgentChain })
        await this.options.executor.restore(family, chains.text)
        const hooks = await this.fixHooks(family, input)
        missing.push(...hooks.missing.map((hook) => `${FAMILY_NAME[family]} ${hook}`))
        rules += chains.rules + 3
      }
      if (this.installedOnce && missing.length > 0) {
        this.options.logger.warn({ missing }, 'network policy hooks were removed (a firewall reload, an engine restart or by hand): put back')
        this.options.observer?.reinstalled()
      }
      if (this.state.state !== 'enforced') this.options.logger.info({ rules, bridge: input.bridge, chains: input.chains }, 'tool network policy enforced')
      this.installedOnce = true
      this.state = { state: 'enforced', rules, families: this.families().map((family) => FAMILY_NAME[family]) }
    } catch (error) {
      this.degrade(error as Error)
    }
  }

  private degrade(error: Error): void {
    const reason = error.message
    if (this.state.reason !== reason) this.options.logger.error({ reason }, 'the tool network policy cannot be enforced: deploys and starts are refused until it is')
    this.state = { state: 'degraded', reason, rules: 0, families: [] }
  }

  /** Hooks checked and put right in one transaction; a race with another agent's fix is tried once more on a fresh listing. */
  private async fixHooks(family: Family, input: PolicyInput): Promise<{ missing: string[] }> {
    const { executor } = this.options
    for (let attempt = 1; ; attempt++) {
      const [dockerUser, forward, inputChain] = await Promise.all([executor.list(family, 'DOCKER-USER'), executor.list(family, 'FORWARD'), executor.list(family, 'INPUT')])
      const plan = planHooks({ dockerUser, forward: forward ?? [], input: inputChain ?? [] }, input)
      if (plan.lines.length === 0) return plan
      try {
        await executor.restore(family, restoreText(plan.lines))
        return plan
      } catch (error) {
        if (attempt >= 2) throw error
      }
    }
  }

  private async policyInput(base: boolean): Promise<PolicyInput> {
    const network = await this.options.inspector.toolNetwork()
    const containers = (base ? [] : await this.options.inspector.listManaged()).filter((container) => (container.toolAddresses ?? []).length > 0)
    const egressOf = new Map(this.options.instances.snapshot().flatMap(({ instanceName, view }) => (view === undefined ? [] : [[instanceName, view.egress] as const])))
    const own = hostAddresses()
    const instances: InstanceRules[] = []
    const hosts = new Set<string>()
    const parsed = new Map<string, ReturnType<typeof parseAllowList>>()
    for (const container of containers) {
      const instanceName = container.labels[InstanceLabel.instanceName] ?? container.name
      const egress = egressOf.get(instanceName) ?? 'internet'
      let effective = egress
      if (typeof egress === 'object') {
        try {
          const targets = parseAllowList(egress.allow, own, 'egress.allow')
          parsed.set(instanceName, targets)
          for (const target of targets) if (target.kind === 'host') hosts.add(target.host)
        } catch (error) {
          // An entry that became the host's own (an address moved): that instance reaches nothing until redeployed.
          this.options.logger.warn({ instanceName, reason: (error as Error).message }, 'an egress allow list cannot be applied: the instance reaches nothing')
          effective = 'none'
        }
      }
      instances.push({ instanceName, addresses: container.toolAddresses ?? [], egress: effective, allowed: [] })
    }
    const resolved = await this.names.addressesOf(hosts)
    for (const instance of instances) {
      const allowed: ResolvedTarget[] = []
      for (const target of parsed.get(instance.instanceName) ?? []) {
        if (target.kind === 'cidr') allowed.push(cidrTarget(target))
        else for (const address of (resolved.get(target.host) ?? []).filter((candidate) => allowedAddress(candidate, own))) allowed.push({ family: familyOf(address), cidr: address, port: target.port })
      }
      instance.allowed = allowed
    }
    instances.sort((a, b) => a.instanceName.localeCompare(b.instanceName))
    return {
      chains: chainNames(this.options.scope, this.options.network, network.bridge),
      bridge: network.bridge,
      toolSubnets: network.subnets.map((subnet) => subnet.subnet),
      nameservers: (this.options.nameservers ?? hostNameservers)(),
      instances
    }
  }
}
