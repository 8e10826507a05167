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
import { hostAddresses, parseAllowList, toolMacAddress, type Family } from '../model/egress.ts'
import type { NetworkInspector } from '../runtime/types.ts'
import { allowedAddress, HostNameCache, hostNameservers, systemResolve, type Resolve } from './addresses.ts'
import type { IptablesExecutor } from './executor.ts'
import { planHooks, restoreText } from './hooks.ts'
import type { NetworkPolicyApi, NetworkPolicyMode, NetworkPolicyObserver, NetworkPolicyStatus } from './netpolicy-api.ts'
import { agentChainName, bridgeChains, chainsRestoreText, cidrTarget, familyOf, type BridgeChains, type InstanceRules, type PolicyInput, type ResolvedTarget } from './rules.ts'

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
  /** How often the hooks alone are checked between passes (default 5 s): a removed hook is put back within it. */
  hookCheckIntervalMs?: number
  observer?: NetworkPolicyObserver
  resolve?: Resolve
  /** Families to enforce; default IPv4, and IPv6 when the kernel has it. */
  families?: Family[]
  nameservers?: () => string[]
}

const FAMILY_NAME = { 4: 'ipv4', 6: 'ipv6' } as const
/** How long an admitted container without a view keeps its refuse-everything rule. */
const ADMITTED_FOR_MS = 10 * 60 * 1000
const HOOK_CHECK_INTERVAL_MS = 5000

export class NetworkPolicyEnforcer implements NetworkPolicyApi {
  private state: NetworkPolicyStatus
  private installedOnce = false
  private running: Promise<void> | undefined
  private again = false
  private timer: NodeJS.Timeout | undefined
  private hookTimer: NodeJS.Timeout | undefined
  /** The hooks the last pass put in place, which the hook check looks for. */
  private hooked: { agentChain: string; bridge: BridgeChains } | undefined
  private unsubscribe: (() => void) | undefined
  private readonly seen = new Map<string, string>()
  private readonly names: HostNameCache
  private closed = false
  private firstPass: Promise<void> | undefined
  /** MAC addresses of new narrowed containers refused everything until their view is published (unix ms admitted). */
  private readonly admitted = new Map<string, number>()

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
      const key = view === undefined ? '' : JSON.stringify([view.containerName, view.egress])
      if (this.seen.get(instanceName) === key) return
      if (view === undefined) this.seen.delete(instanceName)
      else this.seen.set(instanceName, key)
      void this.sync()
    })
    this.timer = setInterval(() => void this.sync(), this.options.resyncIntervalMs)
    this.timer.unref()
    this.hookTimer = setInterval(() => void this.checkHooks(), this.options.hookCheckIntervalMs ?? HOOK_CHECK_INTERVAL_MS)
    this.hookTimer.unref()
    await this.sync()
  }

  /** A new narrowed container, before its first start: refused everything until its own rules are written. */
  async admit(mac: string): Promise<void> {
    if (this.options.mode === 'off' || !this.installedOnce) return
    this.admitted.set(mac, Date.now())
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
    if (this.hookTimer !== undefined) clearInterval(this.hookTimer)
  }

  /** Between passes, the hooks alone (a listing of three chains per family): a missing one starts a pass,
   *  which puts it back and counts it, so a firewall reload leaves the tools unheld for seconds, not a resync interval. */
  private async checkHooks(): Promise<void> {
    const hooked = this.hooked
    if (hooked === undefined || this.running !== undefined || this.closed) return
    try {
      for (const family of this.families()) {
        if ((await this.hookPlan(family, hooked.agentChain, hooked.bridge)).lines.length > 0) return void (await this.sync())
      }
    } catch (error) {
      this.options.logger.warn({ reason: (error as Error).message }, 'network policy: the hooks could not be listed; the next pass checks them')
    }
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
        const keepAgentChain = base && (await this.options.executor.list(family, input.agentChain)) !== undefined
        const chains = chainsRestoreText(family, input, { agentChain: !keepAgentChain })
        await this.options.executor.restore(family, chains.text)
        const hooks = await this.fixHooks(family, input.agentChain, input.bridge)
        missing.push(...hooks.missing.map((hook) => `${FAMILY_NAME[family]} ${hook}`))
        rules += chains.rules + 3
      }
      if (this.installedOnce && missing.length > 0) {
        this.options.logger.warn({ missing }, 'network policy hooks were removed (a firewall reload, an engine restart or by hand): put back')
        this.options.observer?.reinstalled()
      }
      if (this.state.state !== 'enforced') this.options.logger.info({ rules, agentChain: input.agentChain, bridge: input.bridge }, 'tool network policy enforced')
      this.installedOnce = true
      this.hooked = { agentChain: input.agentChain, bridge: input.bridge }
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

  /** What the hooks of a family lack, from a fresh listing of the three chains they sit in. */
  private async hookPlan(family: Family, agentChain: string, bridge: BridgeChains): Promise<ReturnType<typeof planHooks>> {
    const { executor } = this.options
    const [dockerUser, forward, input] = await Promise.all([executor.list(family, 'DOCKER-USER'), executor.list(family, 'FORWARD'), executor.list(family, 'INPUT')])
    return planHooks({ dockerUser, forward: forward ?? [], input: input ?? [] }, agentChain, bridge)
  }

  /** Hooks checked and put right in one transaction; a race with another agent's fix is tried once more on a fresh listing. */
  private async fixHooks(family: Family, agentChain: string, bridge: BridgeChains): Promise<{ missing: string[] }> {
    for (let attempt = 1; ; attempt++) {
      const plan = await this.hookPlan(family, agentChain, bridge)
      if (plan.lines.length === 0) return plan
      try {
        await this.options.executor.restore(family, restoreText(plan.lines))
        return plan
      } catch (error) {
        if (attempt >= 2) throw error
      }
    }
  }

  /** The instances' rules from their views (egress, container name: its MAC address), the bridge from the engine. */
  private async policyInput(base: boolean): Promise<PolicyInput> {
    const network = await this.options.inspector.toolNetwork()
    const own = hostAddresses()
    const instances: InstanceRules[] = []
    const hosts = new Set<string>()
    const parsed = new Map<string, ReturnType<typeof parseAllowList>>()
    for (const { instanceName, view } of base ? [] : this.options.instances.snapshot()) {
      if (view === undefined || view.egress === 'internet') continue
      let egress = view.egress
      if (typeof egress === 'object') {
        try {
          const targets = parseAllowList(egress.allow, own, 'egress.allow')
          parsed.set(instanceName, targets)
          for (const target of targets) if (target.kind === 'host') hosts.add(target.host)
        } catch (error) {
          // An entry that became the host's own (an address moved): that instance reaches nothing until redeployed.
          this.options.logger.warn({ instanceName, reason: (error as Error).message }, 'an egress allow list cannot be applied: the instance reaches nothing')
          egress = 'none'
        }
      }
      instances.push({ instanceName, mac: toolMacAddress(view.containerName), egress, allowed: [] })
    }
    // Containers admitted before their view existed: nothing until it does (a failed deploy's is dropped after a while).
    const known = new Set(instances.map((instance) => instance.mac))
    for (const [mac, at] of this.admitted) {
      if (known.has(mac) || Date.now() - at > ADMITTED_FOR_MS) this.admitted.delete(mac)
      else instances.push({ instanceName: `admitted ${mac}`, mac, egress: 'none', allowed: [] })
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
      agentChain: agentChainName(this.options.scope, this.options.network),
      bridge: bridgeChains(network.bridge),
      toolSubnets: network.subnets.map((subnet) => subnet.subnet),
      nameservers: (this.options.nameservers ?? hostNameservers)(),
      instances
    }
  }
}
