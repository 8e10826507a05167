// The tools' network policy over IPv6, tried as a hostile tool would: the
// agents' tools network has a ULA subnet (IPv6 on), an "internet" namespace
// holds 2001:db8::10 and ::11 (documentation addresses) routed back to it,
// another holds fd00:ec2::254 (AWS's IPv6 metadata address) routed behind the
// host. Probes try them, the host's addresses (the bridge's gateway, its
// own ULA, an address added after the agent started) and another tool's
// address; an agent with the policy off shows each forbidden target is
// reachable at all.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { freePort } from '../helpers/agent.ts'
import { hostAddress, netLab } from '../helpers/netns.ts'
import { containerAddress, Matrix, policyName, startPolicyAgent, type Egress, type PolicyAgent, type Target } from '../helpers/probe.ts'
import { expect, statusOf, type Kind } from './lab.ts'

const ALLOW: Egress = { allow: ['[2001:db8::10]:80'] }

t.test('IPv6 probe matrix: internet (default), none, allow, and off', async (t) => {
  const lab = await netLab(t)
  // Routing IPv6 between the tools' bridge and the namespaces; restored at teardown.
  // Docker turns both on itself when it makes an IPv6 network: both are put back as they were.
  await lab.sysctl('net.ipv6.conf.default.forwarding', '1')
  await lab.sysctl('net.ipv6.conf.all.forwarding', '1')
  const hostPort = await freePort()
  await lab.hostServer('::', hostPort, 'host-service')
  const inet = await lab.namespace('in6', { hostSide: ['2001:db8::1/64'], nsSide: ['2001:db8::10/64', '2001:db8::11/64'], nsRoutes: [['-6', 'default', 'via', '2001:db8::1']] })
  const meta = await lab.namespace('me6', {
    hostSide: ['fd00:ec2:ff::1/64'],
    nsSide: ['fd00:ec2:ff::2/64'],
    nsLo: ['fd00:ec2::254/128'],
    nsRoutes: [['-6', 'default', 'via', 'fd00:ec2:ff::1']],
    hostRoutes: [['-6', 'fd00:ec2::254/128', 'via', 'fd00:ec2:ff::2']]
  })
  await Promise.all([lab.serve(inet, '2001:db8::10', 80, 'outside6-10'), lab.serve(inet, '2001:db8::11', 80, 'outside6-11'), lab.serve(meta, 'fd00:ec2::254', 80, 'metadata6')])

  const ula = () => `fd42:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::/64`
  // The agents listen on every address of both families (HOST=::): the attacker's best case over IPv6.
  const [enforced, off] = await Promise.all([
    startPolicyAgent(t, { networkArgs: ['--ipv6', '--subnet', ula()], env: { HOST: '::' } }),
    startPolicyAgent(t, { networkArgs: ['--ipv6', '--subnet', ula()], env: { HOST: '::', DTMA_NETWORK_POLICY: 'off' } })
  ])
  const status = await statusOf(enforced)
  t.comment(`enforcing agent /status network_policy: ${JSON.stringify(status)}`)
  t.equal(status?.state, 'enforced', 'the default policy is enforced')
  t.ok(status?.families?.includes('ipv6'), 'over IPv6 too')
  // none with a port: on the tools' network under the rules (without one a tool has no network at all).
  const [tool, internet, none, allow, offTool, offProbe] = await Promise.all([
    enforced.tool('Other Tool'),
    enforced.tool('Probe Default'),
    enforced.tool('Probe None', 'none', await freePort()),
    enforced.tool('Probe Allow', ALLOW),
    off.tool('Other Tool Off'),
    off.tool('Probe Off')
  ])
  const hostV6 = await hostAddress(6)
  const targetsOf = async (agent: PolicyAgent, otherTool: string): Promise<Array<Target & { kind: Kind }>> => [
    { kind: 'outside', label: 'outside host', host: '2001:db8::10', port: 80, marker: 'outside6-10' },
    { kind: 'outside', label: 'outside host, other address', host: '2001:db8::11', port: 80, marker: 'outside6-11' },
    { kind: 'metadata', label: 'metadata (AWS IPv6) routed behind the host', host: 'fd00:ec2::254', port: 80, marker: 'metadata6' },
    { kind: 'host', label: "host service via the bridge's IPv6 gateway", host: agent.gateway6 ?? '', port: hostPort, marker: 'host-service' },
    ...(hostV6 === undefined ? [] : [{ kind: 'host' as const, label: "host service on the host's IPv6 address", host: hostV6, port: hostPort, marker: 'host-service' }]),
    { kind: 'host', label: 'host service on a host address added after start', host: '2001:db8::1', port: hostPort, marker: 'host-service' },
    // Docker gives an IPv6 bridge fe80::1 too: the host on its link-local address, from the tool's eth0.
    { kind: 'host', label: "host service on the bridge's link-local address", host: 'fe80::1%eth0', port: hostPort, marker: 'host-service' },
    { kind: 'host', label: "agent's port via the IPv6 gateway", host: agent.gateway6 ?? '', port: agent.port },
    { kind: 'tool', label: "other tool's IPv6 address", host: await containerAddress(otherTool, agent.network, 6), port: 8080, marker: 'dtma-test-ok' }
  ]
  const probes: Array<{ id: string; policy: Egress | 'off'; agent: PolicyAgent; otherTool: string; label?: string }> = [
    { id: internet, policy: 'internet' as const, agent: enforced, otherTool: tool },
    { id: none, policy: 'none' as const, agent: enforced, otherTool: tool, label: 'none (with a port)' },
    { id: allow, policy: ALLOW, agent: enforced, otherTool: tool },
    { id: offProbe, policy: 'off' as const, agent: off, otherTool: offTool }
  ]
  const cases = await Promise.all(
    probes.map(async (p) =>
      (await targetsOf(p.agent, p.otherTool)).map((target) => {
        const { expected, note } = expect6(target, p.policy)
        return { probe: p.id, policy: p.label ?? (p.policy === 'internet' ? 'internet (default)' : policyName(p.policy)), target, expected, ...(note !== undefined && { note }) }
      })
    )
  )
  const matrix = new Matrix(t)
  await matrix.check(cases.flat())
  matrix.print('IPv6 probe matrix')
})

/**
 * As over IPv4, but for another tool's address under `off`: Docker 20.10
 * turns inter-container traffic off (icc=false) with iptables only, not
 * ip6tables, so over IPv6 only the agent's policy keeps tools apart.
 */
function expect6(target: Target & { kind: Kind }, policy: Egress | 'off') {
  if (target.kind === 'tool' && policy === 'off') return { expected: 'reached' as const, note: 'Docker 20.10: icc=false is IPv4 only' }
  return expect(target, policy)
}
