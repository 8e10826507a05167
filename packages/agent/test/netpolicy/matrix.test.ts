// The tools' network policy tried as a hostile tool would, over IPv4, on real
// Docker: probe containers deployed through a real agent (listening on every
// interface, tool ports published on every address) try the fake metadata
// service on 169.254.169.254 (on the host's lo, then routed behind the host
// as a cloud routes it), a service on the host, the agent's own port,
// another tool, private ranges and an "internet" of documentation addresses
// in network namespaces. Each case must be reached or refused exactly as its
// policy says; an agent with DTMA_NETWORK_POLICY=off, in the same test,
// shows the probe does see a reach of every forbidden target.
import t from 'tap'
import { freePort } from '../helpers/agent.ts'
import { hostAddress, netLab } from '../helpers/netns.ts'
import { containerAddress, Matrix, policyName, startPolicyAgent, type Egress, type PolicyAgent, type Target } from '../helpers/probe.ts'
import { expect, statusOf, v4Lab, type Kind } from './lab.ts'

const ALLOW: Egress = { allow: ['203.0.113.10:80', '10.99.0.0/24:80'] }

t.test('IPv4 probe matrix: internet (default), none, allow, and off', async (t) => {
  const lab = await netLab(t)
  const hostPort = await freePort()
  const outside = await v4Lab(lab, hostPort)
  const [enforced, off] = await Promise.all([startPolicyAgent(t), startPolicyAgent(t, { env: { DTMA_NETWORK_POLICY: 'off' } })])

  const enforcedStatus = await statusOf(enforced)
  t.comment(`enforcing agent /status network_policy: ${JSON.stringify(enforcedStatus)}`)
  t.equal(enforcedStatus?.state, 'enforced', 'the default policy is enforced')
  t.ok((enforcedStatus?.rules ?? 0) > 0, 'with rules in force')
  const offStatus = await statusOf(off)
  t.comment(`off agent /status network_policy: ${JSON.stringify(offStatus)}`)
  t.equal(offStatus?.state, 'off', 'DTMA_NETWORK_POLICY=off says so')

  // Each agent: another tool (httpd on 8080, its port published on every address) and the probes.
  const [toolPort, offToolPort, nonePort] = await Promise.all([freePort(), freePort(), freePort()])
  // Two probes under none: without a port it runs with no network at all; with one it is on the tools' network under the rules.
  const [tool, internet, none, nonePorted, allow, offTool, offProbe] = await Promise.all([
    enforced.tool('Other Tool', undefined, toolPort),
    enforced.tool('Probe Default'),
    enforced.tool('Probe None', 'none'),
    enforced.tool('Probe None Ported', 'none', nonePort),
    enforced.tool('Probe Allow', ALLOW),
    off.tool('Other Tool Off', undefined, offToolPort),
    off.tool('Probe Off')
  ])
  const probes: Array<{ id: string; policy: Egress | 'off'; agent: PolicyAgent; otherTool: string; otherToolPort: number; label?: string }> = [
    { id: internet, policy: 'internet', agent: enforced, otherTool: tool, otherToolPort: toolPort },
    { id: none, policy: 'none', agent: enforced, otherTool: tool, otherToolPort: toolPort },
    { id: nonePorted, policy: 'none', agent: enforced, otherTool: tool, otherToolPort: toolPort, label: 'none (with a port)' },
    { id: allow, policy: ALLOW, agent: enforced, otherTool: tool, otherToolPort: toolPort },
    { id: offProbe, policy: 'off', agent: off, otherTool: offTool, otherToolPort: offToolPort }
  ]
  const hostV4 = (await hostAddress(4)) ?? '192.0.2.2'
  const matrix = new Matrix(t)

  /** Every target of one probe, with what its policy expects. */
  function cases(p: (typeof probes)[number], targets: Array<Target & { kind: Kind }>) {
    return targets.map((target) => {
      const { expected, note } = expect(target, p.policy)
      return { probe: p.id, policy: p.label ?? (p.policy === 'internet' ? 'internet (default)' : policyName(p.policy)), target, expected, ...(note !== undefined && { note }) }
    })
  }
  async function targetsOf(p: (typeof probes)[number]): Promise<Array<Target & { kind: Kind }>> {
    return [
      { kind: 'host', label: 'host service via gateway', host: p.agent.gateway, port: hostPort, marker: 'host-service' },
      { kind: 'host', label: "host service on the host's address", host: hostV4, port: hostPort, marker: 'host-service' },
      { kind: 'host', label: 'host service on a host address added after start', host: '203.0.113.1', port: hostPort, marker: 'host-service' },
      { kind: 'host', label: "agent's port via gateway", host: p.agent.gateway, port: p.agent.port },
      { kind: 'tool', label: "other tool's container address", host: await containerAddress(p.otherTool, p.agent.network), port: 8080, marker: 'dtma-test-ok' },
      { kind: 'host', label: "other tool's published port via gateway", host: p.agent.gateway, port: p.otherToolPort, marker: 'dtma-test-ok' },
      { kind: 'host', label: "other tool's published port on the host's address", host: hostV4, port: p.otherToolPort, marker: 'dtma-test-ok' },
      // A tool of another tools network (the other agent's): its published port, through the host (docker-proxy relays it past Docker's network isolation).
      { kind: 'host', label: "another network's tool, published port via gateway", host: p.agent.gateway, port: p.agent === off ? toolPort : offToolPort, marker: 'dtma-test-ok' },
      { kind: 'host', label: "another network's tool, published port on the host's address", host: hostV4, port: p.agent === off ? toolPort : offToolPort, marker: 'dtma-test-ok' },
      ...outside.targets
    ]
  }
  const all = (await Promise.all(probes.map(async (p) => cases(p, await targetsOf(p))))).flat()


  // The metadata service: first on an address of the host, then behind it (the same address, so one after the other).
  const metadataRows = (metadata: Target) => probes.map((p) => cases(p, [{ ...metadata, kind: 'metadata' }])[0]!)
  await matrix.check([...all, ...metadataRows(await outside.metadataOnLo())])
  await outside.dropMetadataOnLo()
  await matrix.check(metadataRows(await outside.metadataRouted()))

  // The agent is not a tool: it (and the host) still reaches a tool's server.
  const fromHost = await fetch(`http://${await containerAddress(tool, enforced.network)}:8080/`, { signal: AbortSignal.timeout(3000) }).then((r) => r.text(), (error: unknown) => String(error))
  const hostRow = `host -> other tool's container address :8080 | enforced | reached | ${fromHost.includes('dtma-test-ok') ? 'reached' : `refused (${fromHost})`}`
  t.comment(hostRow)
  t.match(fromHost, /dtma-test-ok/, hostRow)
  matrix.print('IPv4 probe matrix')
})
