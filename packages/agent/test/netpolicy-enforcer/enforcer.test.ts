// The enforcer on real iptables and real Docker: a deploy under each egress
// policy puts its container's address in the agent's chain, a hook someone
// deletes is put back and counted, a container that restarts keeps its
// rules, and /status and the metrics tell what is in force.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { authHeaders, docker, startTestAgent, type TestAgent } from '../helpers/agent.ts'
import { policyChainOf } from '../helpers/netpolicy-cleanup.ts'
import { waitFor } from '../helpers/wait.ts'
import { toolMacAddress } from '../../src/model/egress.ts'

const run = promisify(execFile)
const iptablesS = async (program: string, chain: string) => (await run(program, ['-w', '-S', chain])).stdout.split('\n').filter(Boolean)

async function deploy(agent: TestAgent, name: string, egress: unknown, hostPort?: number) {
  const body = agent.deployBody(name, hostPort === undefined ? {} : { hostPort })
  const response = await fetch(`${agent.baseUrl}/tools`, {
    method: 'POST',
    headers: { ...authHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, baseConfigOverrideJson: { ...body.baseConfigOverrideJson, ...(egress !== undefined && { egress }) } })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

async function metric(agent: TestAgent, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${agent.baseUrl}/metrics`, { headers: authHeaders() })).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.split(' ')[1])
}

t.test('each egress policy is in the agent’s chain by the container’s address; a lost hook is put back', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_RESYNC_INTERVAL_S: '1' } })
  const chain = policyChainOf(agent.config.scope)
  const open = await deploy(agent, `np-open-${agent.port}`, undefined)
  const shut = await deploy(agent, `np-shut-${agent.port}`, 'none', 0)
  const narrow = await deploy(agent, `np-narrow-${agent.port}`, { allow: ['203.0.113.10:80', '10.1.2.0/24:5432', '[2001:db8::10]:80'] })
  t.same([open.status, shut.status, narrow.status], [201, 201, 201], 'three deploys')
  t.same([open.body.data.egress, shut.body.data.egress, narrow.body.data.egress], ['internet', 'none', { allow: ['203.0.113.10:80', '10.1.2.0/24:5432', '[2001:db8::10]:80'] }], 'each answer reports its egress')
  const listed = (await (await fetch(`${agent.baseUrl}/tools/${shut.body.data.instance_name_on_toolbox}`, { headers: authHeaders() })).json()) as { data: { egress: unknown } }
  t.equal(listed.data.egress, 'none', 'the instance read route reports it')

  const macOf = async (id: string): Promise<string> => Object.values((await docker.getContainer(id).inspect()).NetworkSettings.Networks)[0]?.MacAddress ?? ''
  const nameOf = async (id: string): Promise<string> => (await docker.getContainer(id).inspect()).Name.replace(/^\//, '')
  const openMac = await macOf(open.body.data.container_id)
  const shutMac = await macOf(shut.body.data.container_id)
  const narrowMac = await macOf(narrow.body.data.container_id)
  t.equal(shutMac, toolMacAddress(await nameOf(shut.body.data.container_id)), 'none: the MAC address the agent gave it')
  t.equal(narrowMac, toolMacAddress(await nameOf(narrow.body.data.container_id)), 'allow: the MAC address the agent gave it')
  const rules =
    (await waitFor(async () => {
      const listing = await iptablesS('iptables', chain)
      // The allow list's own rules follow its published view (until then it is refused everything).
      return listing.some((rule) => rule.includes(shutMac)) && listing.some((rule) => rule.includes(narrowMac) && rule.endsWith('-j ACCEPT')) ? listing : undefined
    }, 20_000)) ?? []
  t.comment(`iptables -S ${chain}:\n${rules.join('\n')}`)
  t.ok(rules.includes(`-A ${chain} -m mac --mac-source ${shutMac} -j REJECT --reject-with icmp-port-unreachable`), `none: everything from ${shutMac} refused`)
  t.ok(rules.includes(`-A ${chain} -d 203.0.113.10/32 -p tcp -m mac --mac-source ${narrowMac} -m tcp --dport 80 -j ACCEPT`), 'allow: the listed address and port')
  t.ok(rules.includes(`-A ${chain} -d 10.1.2.0/24 -p tcp -m mac --mac-source ${narrowMac} -m tcp --dport 5432 -j ACCEPT`), 'allow: the listed private range and port')
  t.ok(rules.includes(`-A ${chain} -m mac --mac-source ${narrowMac} -j REJECT --reject-with icmp-port-unreachable`), 'allow: the rest refused')
  t.notOk(rules.some((rule) => rule.includes(openMac)), 'internet: no rule of its own (the network chain applies)')
  // A pass writes IPv4, then IPv6.
  const v6rule = `-A ${chain} -d 2001:db8::10/128 -p tcp -m mac --mac-source ${narrowMac} -m tcp --dport 80 -j ACCEPT`
  t.ok(await waitFor(async () => ((await iptablesS('ip6tables', chain)).includes(v6rule) ? true : undefined), 20_000), 'allow: the bracketed IPv6 entry in ip6tables')

  const status = (await (await fetch(`${agent.baseUrl}/status`, { headers: authHeaders() })).json()) as { status: string; network_policy: { state: string; rules: number; families: string[] } }
  t.comment(`/status network_policy: ${JSON.stringify(status.network_policy)}`)
  t.equal(status.status, 'healthy')
  t.equal(status.network_policy.state, 'enforced')
  t.ok(status.network_policy.rules > 20, `${status.network_policy.rules} rules`)
  t.same(status.network_policy.families, ['ipv4', 'ipv6'])
  t.equal(await metric(agent, 'dtma_network_policy_enforced'), 1)

  // Someone deletes the agent's hook: the next tick puts it back and counts it.
  const bridge = (await iptablesS('iptables', 'DOCKER-USER')).find((rule) => rule.endsWith(`-j ${chain}`)) as string
  t.ok(bridge, `hooked: ${bridge}`)
  const before = (await metric(agent, 'dtma_network_policy_reinstalls_total')) ?? 0
  await run('iptables', ['-w', ...bridge.replace(/^-A /, '-D ').split(' ')])
  // (the delete succeeding is the proof it was there and is gone; the agent may put it back at any moment now)
  t.ok(await waitFor(async () => ((await iptablesS('iptables', 'DOCKER-USER')).includes(bridge) ? true : undefined), 20_000), 'the hook is back')
  const after = await waitFor(async () => ((await metric(agent, 'dtma_network_policy_reinstalls_total')) ?? 0) > before ? metric(agent, 'dtma_network_policy_reinstalls_total') : undefined, 10_000)
  t.comment(`reinstalls_total: expected > ${before}, seen ${after}`)
  t.ok((after ?? 0) > before, 'the reinstall is counted')

  // The shut container restarts (its IP address may change, its MAC address does not): its rule holds from its first packet.
  const before6 = (await iptablesS('iptables', chain)).length
  await docker.getContainer(shut.body.data.container_id).restart({ t: 0 })
  t.equal(await macOf(shut.body.data.container_id), shutMac, 'the same MAC address after a restart')
  t.ok((await iptablesS('iptables', chain)).includes(`-A ${chain} -m mac --mac-source ${shutMac} -j REJECT --reject-with icmp-port-unreachable`), 'its rule was never rewritten away')
  t.equal((await iptablesS('iptables', chain)).length, before6, 'nothing to add for a restart')
})

t.test('a stdio server that may reach nothing gets no network at all', async (t) => {
  const agent = await startTestAgent(t)
  const body = agent.deployBody(`np-stdio-${agent.port}`)
  const response = await fetch(`${agent.baseUrl}/tools`, {
    method: 'POST',
    headers: { ...authHeaders(), 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, baseConfigOverrideJson: { Env: ['MODE=test'], egress: 'none' } })
  })
  const answer = (await response.json()) as { data: { container_id: string } }
  t.equal(response.status, 201)
  const info = await docker.getContainer(answer.data.container_id).inspect()
  t.comment(`NetworkMode: expected none, seen ${info.HostConfig.NetworkMode}; networks: ${Object.keys(info.NetworkSettings.Networks).join(',')}`)
  t.equal(info.HostConfig.NetworkMode, 'none')
})
