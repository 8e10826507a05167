// The tool network policy as iptables rules: pure (policy and addresses in,
// iptables-restore text out), so every rule and its order is tested without
// root. Three chains per family, in the filter table:
//   DTMA-A-<agent>  this agent's instances, by source address (none, allow),
//                   hooked first in DOCKER-USER for the tools' bridge;
//   DTMA-N-<net>    the network-wide default (every tool on the bridge, from
//                   its first packet): no link-local, no private ranges but
//                   the host's nameservers on port 53, hooked after every
//                   agent's chain; shared by the agents of one bridge;
//   DTMA-H-<net>    a tool reaching the host itself (any of its addresses,
//                   any port): refused, but replies to the host's own
//                   connections; hooked first in INPUT.
import { createHash } from 'node:crypto'
import type { AllowTarget, Egress, Family } from '../model/egress.ts'

/** The iptables table a tool's traffic crosses the host in, per path. */
export const FORWARD_HOOK_CHAIN = 'DOCKER-USER'
export const INPUT_HOOK_CHAIN = 'INPUT'

/** Never reached from a tool under `internet` (nor under `{ allow }` but when listed; link-local never). */
export const PRIVATE_RANGES: Record<Family, string[]> = {
  4: ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4'],
  6: ['fe80::/10', 'fc00::/7', '::1/128', 'ff00::/8', '::ffff:0:0/96']
}

const LINK_LOCAL_RANGE: Record<Family, string> = { 4: '169.254.0.0/16', 6: 'fe80::/10' }
const PORT_UNREACHABLE: Record<Family, string> = { 4: 'icmp-port-unreachable', 6: 'icmp6-port-unreachable' }

/** One running container of this agent on the tools' network and what it may reach. */
export interface InstanceRules {
  instanceName: string
  addresses: string[]
  egress: Egress
  /** Allow entries of `{ allow }` with host names resolved (addresses of every family). */
  allowed: ResolvedTarget[]
}

/** An allow entry as rules use it: an address or range of one family and a port. */
export interface ResolvedTarget {
  family: Family
  cidr: string
  port: number
}

export interface ChainNames {
  agent: string
  network: string
  host: string
}

export interface PolicyInput {
  chains: ChainNames
  /** The host's interface of the tools' bridge. */
  bridge: string
  /** The tools' own subnets (an allow entry never opens the way to another tool). */
  toolSubnets: string[]
  /** The nameservers Docker's embedded DNS forwards to (the host's resolv.conf, not loopback). */
  nameservers: string[]
  instances: InstanceRules[]
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12)
}

/** Chain names (at most 28 characters): the agent's by scope and network, the shared ones by bridge. */
export function chainNames(scope: string, network: string, bridge: string): ChainNames {
  return { agent: `DTMA-A-${shortHash(`${scope}\0${network}`)}`, network: `DTMA-N-${shortHash(bridge)}`, host: `DTMA-H-${shortHash(bridge)}` }
}

export function familyOf(address: string): Family {
  return address.includes(':') ? 6 : 4
}

function withPrefix(address: string): string {
  return address.includes('/') ? address : `${address}/${familyOf(address) === 4 ? 32 : 128}`
}

/** tcp answered with a reset, everything else with port-unreachable: a refused probe fails at once. */
function reject(family: Family, chain: string, match: string): string[] {
  return [`-A ${chain} ${match}-p tcp -j REJECT --reject-with tcp-reset`, `-A ${chain} ${match}-j REJECT --reject-with ${PORT_UNREACHABLE[family]}`]
}

function dnsRules(family: Family, chain: string, match: string, nameservers: string[], verdict: string): string[] {
  return nameservers
    .filter((server) => familyOf(server) === family)
    .flatMap((server) => ['udp', 'tcp'].map((protocol) => `-A ${chain} ${match}-d ${withPrefix(server)} -p ${protocol} -m ${protocol} --dport 53 -j ${verdict}`))
}

const ESTABLISHED = '-m conntrack --ctstate RELATED,ESTABLISHED'

/** This agent's chain: per instance, by source address. */
export function agentChainRules(family: Family, input: PolicyInput): string[] {
  const chain = input.chains.agent
  const rules = [`-A ${chain} ${ESTABLISHED} -j RETURN`]
  for (const instance of input.instances) {
    if (instance.egress === 'internet') continue
    for (const address of instance.addresses.filter((candidate) => familyOf(candidate) === family)) {
      const source = `-s ${withPrefix(address)} `
      if (instance.egress !== 'none') {
        // Never link-local, never another tool, whatever a wide range says; then DNS, then the list.
        rules.push(...reject(family, chain, `${source}-d ${LINK_LOCAL_RANGE[family]} `))
        for (const subnet of input.toolSubnets.filter((candidate) => familyOf(candidate) === family)) rules.push(...reject(family, chain, `${source}-d ${subnet} `))
        rules.push(...dnsRules(family, chain, source, input.nameservers, 'ACCEPT'))
        for (const target of instance.allowed.filter((candidate) => candidate.family === family)) {
          for (const protocol of ['tcp', 'udp']) rules.push(`-A ${chain} ${source}-d ${withPrefix(target.cidr)} -p ${protocol} -m ${protocol} --dport ${target.port} -j ACCEPT`)
        }
      }
      rules.push(...reject(family, chain, source))
    }
  }
  rules.push(`-A ${chain} -j RETURN`)
  return rules
}

/** The network-wide default: the public internet, and the host's nameservers on port 53. */
export function networkChainRules(family: Family, input: PolicyInput): string[] {
  const chain = input.chains.network
  return [
    `-A ${chain} ${ESTABLISHED} -j RETURN`,
    ...dnsRules(family, chain, '', input.nameservers, 'RETURN'),
    ...PRIVATE_RANGES[family].flatMap((range) => reject(family, chain, `-d ${range} `)),
    `-A ${chain} -j RETURN`
  ]
}

/** The host itself: replies to its own connections (the agent's proxy to http servers), IPv6 neighbour discovery, nothing else. */
export function hostChainRules(family: Family, input: PolicyInput): string[] {
  const chain = input.chains.host
  const neighbours = family === 6 ? ['neighbour-solicitation', 'neighbour-advertisement'].map((type) => `-A ${chain} -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j ACCEPT`) : []
  return [`-A ${chain} ${ESTABLISHED} -j ACCEPT`, ...neighbours, ...reject(family, chain, '')]
}

/** One iptables-restore --noflush transaction: each chain declared (made, or emptied) and filled at once;
 *  agentChain false leaves the agent's chain out (as it is). */
export function chainsRestoreText(family: Family, input: PolicyInput, options: { agentChain: boolean } = { agentChain: true }): { text: string; rules: number } {
  const { agent, network, host } = input.chains
  const agentRules = options.agentChain ? agentChainRules(family, input) : []
  const rules = [...agentRules, ...networkChainRules(family, input), ...hostChainRules(family, input)]
  const declared = [...(options.agentChain ? [`:${agent} - [0:0]`] : []), `:${network} - [0:0]`, `:${host} - [0:0]`]
  const text = ['*filter', ...declared, ...rules, 'COMMIT', ''].join('\n')
  return { text, rules: rules.length }
}

/** The jumps that put the chains in the path of the tools' traffic, as `iptables -S` prints them. */
export function hookRules(input: Pick<PolicyInput, 'chains' | 'bridge'>): { agent: string; network: string; host: string } {
  return {
    agent: `-A ${FORWARD_HOOK_CHAIN} -i ${input.bridge} -j ${input.chains.agent}`,
    network: `-A ${FORWARD_HOOK_CHAIN} -i ${input.bridge} -j ${input.chains.network}`,
    host: `-A ${INPUT_HOOK_CHAIN} -i ${input.bridge} -j ${input.chains.host}`
  }
}

/** An allow target with a known address (a CIDR entry); host names are resolved by the caller. */
export function cidrTarget(target: Extract<AllowTarget, { kind: 'cidr' }>): ResolvedTarget {
  return { family: target.family, cidr: `${target.address}/${target.prefix}`, port: target.port }
}
