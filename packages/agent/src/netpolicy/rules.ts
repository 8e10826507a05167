// The tool network policy as iptables rules: pure (policy and addresses in,
// iptables-restore text out), so every rule and its order is tested without
// root. Three chains per family, in the filter table:
//   DTMA-A-<agent>   this agent's instances (none, allow), by the MAC address
//                    the agent gave each container, not by its IP address,
//                    which Docker hands to the next container after a restart:
//                    an open tool never inherits an allow list, a `none` tool
//                    never comes back open, agent running or not; hooked
//                    first in DOCKER-USER for the tools' bridge;
//   DTMA-N-<bridge>  the network-wide default (every tool on the bridge, from
//                    its first packet): no link-local, no private ranges but
//                    the host's nameservers on port 53, hooked after every
//                    agent's chain; shared by the agents of one bridge;
//   DTMA-H-<bridge>  a tool reaching the host itself (any of its addresses,
//                    any port): refused, but replies to the host's own
//                    connections; hooked first in INPUT.
import { createHash } from 'node:crypto'
import type { AllowTarget, Egress, Family } from '../model/egress.ts'

export const FORWARD_HOOK_CHAIN = 'DOCKER-USER'
export const INPUT_HOOK_CHAIN = 'INPUT'

/** Never reached from a tool under `internet` (nor under `{ allow }` but when listed; link-local never). */
export const PRIVATE_RANGES: Record<Family, string[]> = {
  4: ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4'],
  6: ['fe80::/10', 'fc00::/7', '::1/128', 'ff00::/8', '::ffff:0:0/96']
}

const LINK_LOCAL_RANGE: Record<Family, string> = { 4: '169.254.0.0/16', 6: 'fe80::/10' }
const PORT_UNREACHABLE: Record<Family, string> = { 4: 'icmp-port-unreachable', 6: 'icmp6-port-unreachable' }
const ESTABLISHED = '-m conntrack --ctstate RELATED,ESTABLISHED'

/** One instance of this agent with a narrowed egress, and what it may reach. */
export interface InstanceRules {
  instanceName: string
  /** The MAC address of its container on the tools' network (model/egress toolMacAddress). */
  mac: string
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

/** The tools' bridge interface and its shared chains. */
export interface BridgeChains {
  bridge: string
  network: string
  host: string
}

export interface PolicyInput {
  agentChain: string
  bridge: BridgeChains
  /** The tools' own subnets (an allow entry never opens the way to another tool). */
  toolSubnets: string[]
  /** The nameservers Docker's embedded DNS forwards to (the host's resolv.conf, not loopback). */
  nameservers: string[]
  instances: InstanceRules[]
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12)
}

/** The agent's chain (at most 28 characters), by scope and the tools' network name. */
export function agentChainName(scope: string, network: string): string {
  return `DTMA-A-${shortHash(`${scope}\0${network}`)}`
}

/** A bridge's shared chains, by its interface. */
export function bridgeChains(bridge: string): BridgeChains {
  return { bridge, network: `DTMA-N-${shortHash(bridge)}`, host: `DTMA-H-${shortHash(bridge)}` }
}

export function familyOf(address: string): Family {
  return address.includes(':') ? 6 : 4
}

function withPrefix(address: string): string {
  return address.includes('/') ? address : `${address}/${familyOf(address) === 4 ? 32 : 128}`
}

/** `-m mac --mac-source M ` (where iptables -S prints it: after -d and -p), or nothing. */
function fromMac(mac: string | undefined): string {
  return mac === undefined ? '' : `-m mac --mac-source ${mac} `
}

/** tcp answered with a reset, everything else with port-unreachable: a refused probe fails at once. */
function reject(family: Family, chain: string, destination: string, mac?: string): string[] {
  const to = destination === '' ? '' : `-d ${destination} `
  return [`-A ${chain} ${to}-p tcp ${fromMac(mac)}-j REJECT --reject-with tcp-reset`, `-A ${chain} ${to}${fromMac(mac)}-j REJECT --reject-with ${PORT_UNREACHABLE[family]}`]
}

/** udp and tcp to a destination's port, from a MAC (or anyone). */
function toPort(chain: string, destination: string, port: number, verdict: string, mac?: string): string[] {
  return ['udp', 'tcp'].map((protocol) => `-A ${chain} -d ${withPrefix(destination)} -p ${protocol} ${fromMac(mac)}-m ${protocol} --dport ${port} -j ${verdict}`)
}

function dnsRules(family: Family, chain: string, nameservers: string[], verdict: string, mac?: string): string[] {
  return nameservers.filter((server) => familyOf(server) === family).flatMap((server) => toPort(chain, server, 53, verdict, mac))
}

/** This agent's chain: per instance, by its container's MAC address. */
export function agentChainRules(family: Family, input: PolicyInput): string[] {
  const chain = input.agentChain
  const rules = [`-A ${chain} ${ESTABLISHED} -j RETURN`]
  for (const instance of input.instances) {
    if (instance.egress === 'internet') continue
    if (instance.egress !== 'none') {
      // Never link-local, never another tool, whatever a wide range says; then DNS, then the list.
      rules.push(...reject(family, chain, LINK_LOCAL_RANGE[family], instance.mac))
      for (const subnet of input.toolSubnets.filter((candidate) => familyOf(candidate) === family)) rules.push(...reject(family, chain, subnet, instance.mac))
      rules.push(...dnsRules(family, chain, input.nameservers, 'ACCEPT', instance.mac))
      for (const target of instance.allowed.filter((candidate) => candidate.family === family)) rules.push(...toPort(chain, target.cidr, target.port, 'ACCEPT', instance.mac))
    }
    rules.push(...reject(family, chain, '', instance.mac))
  }
  rules.push(`-A ${chain} -j RETURN`)
  return rules
}

/** The network-wide default: the public internet, and the host's nameservers on port 53. */
export function networkChainRules(family: Family, input: PolicyInput): string[] {
  const chain = input.bridge.network
  return [
    `-A ${chain} ${ESTABLISHED} -j RETURN`,
    ...dnsRules(family, chain, input.nameservers, 'RETURN'),
    ...PRIVATE_RANGES[family].flatMap((range) => reject(family, chain, range)),
    `-A ${chain} -j RETURN`
  ]
}

/** The host itself: replies to its own connections (the agent's proxy to http servers), IPv6 neighbour discovery, nothing else. */
export function hostChainRules(family: Family, chain: string): string[] {
  const neighbours = family === 6 ? ['neighbour-solicitation', 'neighbour-advertisement'].map((type) => `-A ${chain} -p ipv6-icmp -m icmp6 --icmpv6-type ${type} -j ACCEPT`) : []
  return [`-A ${chain} ${ESTABLISHED} -j ACCEPT`, ...neighbours, ...reject(family, chain, '')]
}

/** One iptables-restore --noflush transaction: each chain declared (made, or emptied) and filled at once;
 *  agentChain false leaves the agent's chain out (as it is). */
export function chainsRestoreText(family: Family, input: PolicyInput, options: { agentChain: boolean } = { agentChain: true }): { text: string; rules: number } {
  const { network, host } = input.bridge
  const rules = [...(options.agentChain ? agentChainRules(family, input) : []), ...networkChainRules(family, input), ...hostChainRules(family, host)]
  const declared = [...(options.agentChain ? [input.agentChain] : []), network, host].map((chain) => `:${chain} - [0:0]`)
  const text = ['*filter', ...declared, ...rules, 'COMMIT', ''].join('\n')
  return { text, rules: rules.length }
}

/** The jumps that put the chains in the path of the bridge's traffic, as `iptables -S` prints them. */
export function hookRules(agentChain: string, bridge: BridgeChains): { agent: string; network: string; host: string } {
  return {
    agent: `-A ${FORWARD_HOOK_CHAIN} -i ${bridge.bridge} -j ${agentChain}`,
    network: `-A ${FORWARD_HOOK_CHAIN} -i ${bridge.bridge} -j ${bridge.network}`,
    host: `-A ${INPUT_HOOK_CHAIN} -i ${bridge.bridge} -j ${bridge.host}`
  }
}

/** An allow target with a known address (a CIDR entry); host names are resolved by the caller. */
export function cidrTarget(target: Extract<AllowTarget, { kind: 'cidr' }>): ResolvedTarget {
  return { family: target.family, cidr: `${target.address}/${target.prefix}`, port: target.port }
}
