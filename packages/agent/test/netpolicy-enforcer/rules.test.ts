// The rule builder and the hook planner, without root: each policy's exact
// rules and their order, in IPv4 and IPv6, and the allow entries a deploy
// may never name.
import t from 'tap'
import { parseAllowEntry, parseAllowList, toolMacAddress } from '../../src/model/egress.ts'
import { nameserversOf } from '../../src/netpolicy/addresses.ts'
import { planHooks } from '../../src/netpolicy/hooks.ts'
import { agentChainName, agentChainRules, bridgeChains, chainsRestoreText, hostChainRules, networkChainRules, type PolicyInput } from '../../src/netpolicy/rules.ts'

const bridge = { bridge: 'br-0123456789ab', network: 'DTMA-N-bbbbbbbbbbbb', host: 'DTMA-H-bbbbbbbbbbbb' }
const A = 'DTMA-A-aaaaaaaaaaaa'
const SHUT = '02:00:00:00:00:03'
const NARROW = '02:00:00:00:00:04'
const input: PolicyInput = {
  agentChain: A,
  bridge,
  toolSubnets: ['172.19.0.0/16', 'fd00:dead::/64'],
  nameservers: ['10.255.255.53', '2001:db8:53::53'],
  instances: [
    { instanceName: 'open', mac: '02:00:00:00:00:02', egress: 'internet', allowed: [] },
    { instanceName: 'shut', mac: SHUT, egress: 'none', allowed: [] },
    {
      instanceName: 'narrow',
      mac: NARROW,
      egress: { allow: ['10.1.2.0/24:5432', '[2001:db8::10]:80'] },
      allowed: [
        { family: 4, cidr: '10.1.2.0/24', port: 5432 },
        { family: 6, cidr: '2001:db8::10', port: 80 }
      ]
    }
  ]
}

t.test('names: chains fit iptables (28 characters) and differ by scope and network; MAC addresses are stable, local and unicast', async (t) => {
  const names = [agentChainName('scope-a', 'dtma-tools'), agentChainName('scope-b', 'dtma-tools'), agentChainName('scope-a', 'other'), bridgeChains('br-0123456789ab').network, bridgeChains('br-0123456789ab').host]
  for (const name of names) t.ok(name.length <= 28, `${name}: ${name.length} characters`)
  t.equal(new Set(names.slice(0, 3)).size, 3, 'two agents (or networks) never share their chain')
  const mac = toolMacAddress('dtma-tool-x')
  t.match(mac, /^02(:[0-9a-f]{2}){5}$/, `${mac}: locally administered, unicast`)
  t.equal(toolMacAddress('dtma-tool-x'), mac, 'the same container name, the same address (across restarts)')
  t.not(toolMacAddress('dtma-tool-y'), mac)
})

t.test('IPv4: the agent chain holds none and allow by MAC address, internet adds nothing', async (t) => {
  const m = (mac: string) => `-m mac --mac-source ${mac}`
  t.same(agentChainRules(4, input), [
    `-A ${A} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    `-A ${A} -p tcp ${m(SHUT)} -j REJECT --reject-with tcp-reset`,
    `-A ${A} ${m(SHUT)} -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -d 169.254.0.0/16 -p tcp ${m(NARROW)} -j REJECT --reject-with tcp-reset`,
    `-A ${A} -d 169.254.0.0/16 ${m(NARROW)} -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -d 172.19.0.0/16 -p tcp ${m(NARROW)} -j REJECT --reject-with tcp-reset`,
    `-A ${A} -d 172.19.0.0/16 ${m(NARROW)} -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -d 10.255.255.53/32 -p udp ${m(NARROW)} -m udp --dport 53 -j ACCEPT`,
    `-A ${A} -d 10.255.255.53/32 -p tcp ${m(NARROW)} -m tcp --dport 53 -j ACCEPT`,
    `-A ${A} -d 10.1.2.0/24 -p udp ${m(NARROW)} -m udp --dport 5432 -j ACCEPT`,
    `-A ${A} -d 10.1.2.0/24 -p tcp ${m(NARROW)} -m tcp --dport 5432 -j ACCEPT`,
    `-A ${A} -p tcp ${m(NARROW)} -j REJECT --reject-with tcp-reset`,
    `-A ${A} ${m(NARROW)} -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -j RETURN`
  ])
})

t.test('IPv6: the same order with ICMPv6 rejects, link-local fe80::/10 first', async (t) => {
  const rules = agentChainRules(6, input)
  t.ok(rules.includes(`-A ${A} -m mac --mac-source ${SHUT} -j REJECT --reject-with icmp6-port-unreachable`), 'none refuses IPv6 too')
  const narrow = rules.filter((rule) => rule.includes(NARROW))
  t.match(narrow[0], /-d fe80::\/10 -p tcp -m mac/)
  t.ok(narrow.includes(`-A ${A} -d 2001:db8::10/128 -p tcp -m mac --mac-source ${NARROW} -m tcp --dport 80 -j ACCEPT`), 'the bracketed entry is allowed on its port')
  t.ok(narrow.some((rule) => rule.includes('-d 2001:db8:53::53/128 -p udp')), 'DNS to the IPv6 nameserver')
  t.notOk(narrow.some((rule) => rule.includes('10.1.2.0')), 'no IPv4 entry in ip6tables')
  t.match(narrow.at(-1), /--mac-source 02:00:00:00:00:04 -j REJECT --reject-with icmp6-port-unreachable$/)
})

t.test('the network chain: established, DNS, then every private and special range refused, then Docker decides', async (t) => {
  const N = bridge.network
  const v4 = networkChainRules(4, input)
  t.equal(v4[0], `-A ${N} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`)
  t.equal(v4[1], `-A ${N} -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN`)
  for (const range of ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4']) {
    t.ok(v4.includes(`-A ${N} -d ${range} -p tcp -j REJECT --reject-with tcp-reset`), `${range} refused`)
  }
  t.ok(v4.indexOf(`-A ${N} -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN`) < v4.indexOf(`-A ${N} -d 10.0.0.0/8 -p tcp -j REJECT --reject-with tcp-reset`), 'DNS comes before the private-range refusal')
  t.equal(v4.at(-1), `-A ${N} -j RETURN`)
  const v6 = networkChainRules(6, input)
  for (const range of ['fe80::/10', 'fc00::/7', '::1/128', 'ff00::/8', '::ffff:0:0/96']) t.ok(v6.includes(`-A ${N} -d ${range} -j REJECT --reject-with icmp6-port-unreachable`), `${range} refused`)
})

t.test('the host chain: replies to the host, IPv6 neighbour discovery, nothing else; all chains in one transaction', async (t) => {
  const H = bridge.host
  t.same(hostChainRules(4, H), [`-A ${H} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-A ${H} -p tcp -j REJECT --reject-with tcp-reset`, `-A ${H} -j REJECT --reject-with icmp-port-unreachable`])
  t.equal(hostChainRules(6, H).filter((rule) => rule.includes('icmpv6-type')).length, 2)
  const { text } = chainsRestoreText(4, input)
  t.match(text, /^\*filter\n:DTMA-A-aaaaaaaaaaaa - \[0:0\]\n:DTMA-N-bbbbbbbbbbbb - \[0:0\]\n:DTMA-H-bbbbbbbbbbbb - \[0:0\]\n/, 'every chain declared (made or emptied) in the same transaction')
  t.match(text, /COMMIT\n$/)
  t.notMatch(chainsRestoreText(4, input, { agentChain: false }).text, /DTMA-A-/, 'the first install leaves the agent chain as it is')
})

t.test('hooks: all in place plans nothing; a lost or misplaced hook is put right in one transaction', async (t) => {
  const br = bridge.bridge
  const agent = `-A DOCKER-USER -i ${br} -j ${A}`
  const network = `-A DOCKER-USER -i ${br} -j ${bridge.network}`
  const host = `-A INPUT -i ${br} -j ${bridge.host}`
  const other = `-A DOCKER-USER -i ${br} -j DTMA-A-dddddddddddd`
  const forward = ['-P FORWARD ACCEPT', '-A FORWARD -j DOCKER-USER']
  t.same(planHooks({ dockerUser: ['-N DOCKER-USER', other, agent, network, '-A DOCKER-USER -j RETURN'], forward, input: [host, '-A INPUT -j ACCEPT'] }, A, bridge), { lines: [], missing: [] })

  const lost = planHooks({ dockerUser: ['-N DOCKER-USER', other, '-A DOCKER-USER -j RETURN'], forward, input: ['-A INPUT -j ACCEPT'] }, A, bridge)
  t.same(lost.missing, [agent, network, host])
  t.same(lost.lines, [`-I DOCKER-USER 1 -i ${br} -j ${A}`, `-I DOCKER-USER 3 -i ${br} -j ${bridge.network}`, `-I INPUT 1 -i ${br} -j ${bridge.host}`])

  // Another agent hooked after the shared chain: its allow lists would meet the private-range refusal first.
  const misplaced = planHooks({ dockerUser: [agent, network, other], forward, input: ['-A INPUT -j ACCEPT', host] }, A, bridge)
  t.same(misplaced.missing, [])
  t.same(misplaced.lines, [`-D DOCKER-USER -i ${br} -j ${A}`, `-D DOCKER-USER -i ${br} -j ${bridge.network}`, `-I DOCKER-USER 1 -i ${br} -j ${A}`, `-I DOCKER-USER 3 -i ${br} -j ${bridge.network}`, `-D INPUT -i ${br} -j ${bridge.host}`, `-I INPUT 1 -i ${br} -j ${bridge.host}`])

  const noDockerV6 = planHooks({ dockerUser: undefined, forward: ['-P FORWARD ACCEPT'], input: [] }, A, bridge)
  t.same(noDockerV6.lines.slice(0, 2), [':DOCKER-USER - [0:0]', '-I FORWARD 1 -j DOCKER-USER'], 'ip6tables without Docker: the chain is made and hooked from FORWARD')
})

t.test('allow entries: every accepted spelling, and each refusal names its reason', async (t) => {
  t.same(parseAllowEntry('api.example.com:443'), { kind: 'host', host: 'api.example.com', port: 443 })
  t.same(parseAllowEntry('10.1.2.0/24:5432'), { kind: 'cidr', family: 4, address: '10.1.2.0', prefix: 24, port: 5432 })
  t.same(parseAllowEntry('203.0.113.10:80'), { kind: 'cidr', family: 4, address: '203.0.113.10', prefix: 32, port: 80 })
  t.same(parseAllowEntry('[2001:db8::10]:80'), { kind: 'cidr', family: 6, address: '2001:db8::10', prefix: 128, port: 80 })
  t.same(parseAllowEntry('2001:db8::/64:443'), { kind: 'cidr', family: 6, address: '2001:db8::', prefix: 64, port: 443 })
  const refused: Array<[string, RegExp]> = [
    ['api.example.com', /port is required/],
    ['api.example.com:0', /1-65535/],
    ['api.example.com:65536', /1-65535/],
    ['2001:db8::10:80', /in brackets/],
    ['10.0.0.0/33:80', /prefix length/],
    ['1.2.3:80', /not an IPv4/],
    ['bad_name!:80', /not an IPv4/]
  ]
  for (const [entry, why] of refused) {
    const seen = parseAllowEntry(entry)
    t.comment(`${entry}: expected refused (${why.source}), seen ${JSON.stringify(seen)}`)
    t.match(seen, { error: why }, entry)
  }
  const host = ['192.0.2.7']
  for (const [entry, why] of [['169.254.169.254:80', /link-local/], ['[fe80::1]:80', /link-local/], ['169.254.0.0/16:80', /link-local/], ['127.0.0.1:80', /loopback/], ['[::1]:80', /loopback/], ['192.0.2.7:22', /host's own/], ['[::ffff:169.254.169.254]:80', /IPv4-mapped/], ['[::ffff:a9fe:a9fe]:80', /IPv4-mapped/]] as const) {
    t.throws(() => parseAllowList(['8.8.8.8:53', entry], host, 'egress.allow'), { message: new RegExp(`egress\\.allow\\[1\\] ${JSON.stringify(entry).replace(/[[\]().*+?]/g, '\\$&')}: .*${why.source}`) }, entry)
  }
  t.same(parseAllowList(['0.0.0.0/0:443'], host, 'x').length, 1, 'a wide range is accepted: link-local is refused before it in the rules')
})

t.test('nameservers: loopback ones left out (Docker never forwards to them), zone ids dropped', async (t) => {
  t.same(nameserversOf('# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nnameserver ::1\noptions edns0\n'), ['10.255.255.53', 'fe80::1'])
})
