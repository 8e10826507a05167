// The IPv4 stand-ins of the network-policy tests and what each policy says of
// them: an "internet" namespace (203.0.113.10 and .11, documentation
// addresses), a private network (10.99.0.10, and one address in each other
// private range), the cloud metadata service on 169.254.169.254 (on the
// host's lo, or routed behind the host), and a service on the host.
import { TOKEN } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'
import { sh, type NetLab } from '../helpers/netns.ts'
import type { Egress, PolicyAgent, Seen, Target } from '../helpers/probe.ts'

export type Kind = 'outside' | 'private' | 'metadata' | 'host' | 'tool'

export const METADATA = '169.254.169.254'

export interface V4Lab {
  /** The outside and private targets (their servers are up). */
  targets: Array<Target & { kind: Kind }>
  metadataOnLo(): Promise<Target>
  dropMetadataOnLo(): Promise<void>
  metadataRouted(): Promise<Target>
}

export async function v4Lab(lab: NetLab, hostPort: number): Promise<V4Lab> {
  await lab.hostServer('::', hostPort, 'host-service')
  const inet = await lab.namespace('inet', { hostSide: ['203.0.113.1/24'], nsSide: ['203.0.113.10/24', '203.0.113.11/24'], nsRoutes: [['default', 'via', '203.0.113.1']] })
  // 192.168.255.10: the last /20 of Docker's default 192.168 pool, so a tools network Docker hands out while other
  // tests run does not take its route (192.168.99.10 could fall in a bridge's 192.168.96.0/20).
  const others = ['172.16.99.10', '192.168.255.10', '100.64.99.10']
  const priv = await lab.namespace('priv', {
    hostSide: ['10.99.0.1/24'],
    nsSide: ['10.99.0.10/24'],
    nsLo: others.map((address) => `${address}/32`),
    nsRoutes: [['default', 'via', '10.99.0.1']],
    hostRoutes: others.map((address) => [`${address}/32`, 'via', '10.99.0.10'])
  })
  await Promise.all([
    lab.serve(inet, '203.0.113.10', 80, 'outside-10-80'),
    lab.serve(inet, '203.0.113.10', 81, 'outside-10-81'),
    lab.serve(inet, '203.0.113.11', 80, 'outside-11-80'),
    lab.serve(priv, '10.99.0.10', 80, 'private-10'),
    // Port 53: the policy lets tools reach the host's nameservers on it, and no other address.
    lab.serve(priv, '10.99.0.10', 53, 'private-10-53'),
    ...others.map((address) => lab.serve(priv, address, 80, `private-${address}`))
  ])
  let loServer: { close(cb: () => void): unknown } | undefined
  return {
    targets: [
      { kind: 'outside', label: 'outside host', host: '203.0.113.10', port: 80, marker: 'outside-10-80' },
      { kind: 'outside', label: 'outside host, other port', host: '203.0.113.10', port: 81, marker: 'outside-10-81' },
      { kind: 'outside', label: 'outside host, other address', host: '203.0.113.11', port: 80, marker: 'outside-11-80' },
      { kind: 'private', label: 'private 10/8', host: '10.99.0.10', port: 80, marker: 'private-10' },
      { kind: 'private', label: 'private 10/8, DNS port (not a nameserver of the host)', host: '10.99.0.10', port: 53, marker: 'private-10-53' },
      ...others.map((address) => ({ kind: 'private' as const, label: `private ${address.startsWith('172') ? '172.16/12' : address.startsWith('192') ? '192.168/16' : '100.64/10'}`, host: address, port: 80, marker: `private-${address}` }))
    ],
    async metadataOnLo() {
      await lab.hostLoAddress(`${METADATA}/32`)
      loServer = await lab.hostServer(METADATA, 80, 'metadata-on-host')
      return { label: "metadata on the host's lo", host: METADATA, port: 80, marker: 'metadata-on-host' }
    },
    async dropMetadataOnLo() {
      await new Promise<void>((resolve) => (loServer ? loServer.close(() => resolve()) : resolve()))
      await sh('ip', 'addr', 'del', `${METADATA}/32`, 'dev', 'lo')
    },
    async metadataRouted() {
      const ns = await lab.namespace('meta', {
        hostSide: ['198.51.100.1/30'],
        nsSide: ['198.51.100.2/30'],
        nsLo: [`${METADATA}/32`],
        nsRoutes: [['default', 'via', '198.51.100.1']],
        hostRoutes: [[`${METADATA}/32`, 'via', '198.51.100.2']]
      })
      await lab.serve(ns, METADATA, 80, 'metadata-routed')
      return { label: 'metadata routed behind the host', host: METADATA, port: 80, marker: 'metadata-routed' }
    }
  }
}

/** What a policy says of a target. */
export function expect(target: Target & { kind: Kind }, policy: Egress | 'off'): { expected: Seen; note?: string } {
  // Tools never reach each other's container address: Docker's icc=false, whatever the policy.
  if (target.kind === 'tool') return { expected: 'refused', ...(policy === 'off' && { note: "Docker's icc=false" }) }
  if (policy === 'off') return { expected: 'reached' }
  if (target.kind === 'outside' && policy === 'internet') return { expected: 'reached' }
  if (typeof policy === 'object' && (target.kind === 'outside' || target.kind === 'private')) {
    return { expected: policy.allow.some((entry) => allows(entry, target)) ? 'reached' : 'refused' }
  }
  return { expected: 'refused' }
}

/** Whether an allow entry (an address, or a /24 or /64 with a port, as these tests write them) covers a target. */
export function allows(entry: string, target: Target): boolean {
  const cut = entry.lastIndexOf(':')
  const address = entry.slice(0, cut).replace(/^\[|\]$/g, '')
  if (Number(entry.slice(cut + 1)) !== target.port) return false
  if (address.endsWith('/24')) return target.host.startsWith(address.slice(0, address.lastIndexOf('.') + 1))
  return address === target.host
}

export interface PolicyStatus {
  state?: string
  reason?: string
  rules?: number
  families?: string[]
}

/**
 * The agent's network_policy on /status, with the token, once its first
 * install has run (an agent answers before it; until then it says
 * degraded, "not installed yet", and refuses deploys).
 */
export async function statusOf(agent: PolicyAgent): Promise<PolicyStatus | undefined> {
  const read = async () => {
    const response = await fetch(`http://127.0.0.1:${agent.port}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return ((await response.json()) as { network_policy?: PolicyStatus }).network_policy
  }
  const settled = await waitFor(async () => {
    const status = await read()
    return status?.state === 'degraded' && /not installed yet/.test(status.reason ?? '') ? undefined : status
  }, 20_000)
  return settled ?? read()
}
