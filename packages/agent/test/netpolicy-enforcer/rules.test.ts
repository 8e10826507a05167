// The rule builder and the hook planner, without root: each policy's exact
// rules and their order, in IPv4 and IPv6, and the allow entries a deploy
// may never name.
import t from 'tap'
import { parseAllowEntry, parseAllowList } from '../../src/model/egress.ts'
import { nameserversOf } from '../../src/netpolicy/addresses.ts'
import { planHooks } from '../../src/netpolicy/hooks.ts'
import { agentChainRules, chainNames, hostChainRules, networkChainRules, type PolicyInput } from '../../src/netpolicy/rules.ts'

const chains = { agent: 'DTMA-A-aaaaaaaaaaaa', network: 'DTMA-N-bbbbbbbbbbbb', host: 'DTMA-H-bbbbbbbbbbbb' }
const input: PolicyInput = {
  chains,
  bridge: 'br-0123456789ab',
  toolSubnets: ['172.19.0.0/16', 'fd00:dead::/64'],
  nameservers: ['10.255.255.53', '2001:db8:53::53'],
  instances: [
    { instanceName: 'open', addresses: ['172.19.0.2'], egress: 'internet', allowed: [] },
    { instanceName: 'shut', addresses: ['172.19.0.3', 'fd00:dead::3'], egress: 'none', allowed: [] },
    {
      instanceName: 'narrow',
      addresses: ['172.19.0.4', 'fd00:dead::4'],
      egress: { allow: ['10.1.2.0/24:5432', '[2001:db8::10]:80'] },
      allowed: [
        { family: 4, cidr: '10.1.2.0/24', port: 5432 },
        { family: 6, cidr: '2001:db8::10', port: 80 }
      ]
    }
  ]
}

t.test('chain names fit iptables (28 characters) and differ by scope and network', async (t) => {
  const a = chainNames('scope-a', 'dtma-tools', 'br-0123456789ab')
  const b = chainNames('scope-b', 'dtma-tools', 'br-0123456789ab')
  for (const name of Object.values(a)) t.ok(name.length <= 28, `${name}: ${name.length} characters`)
  t.not(a.agent, b.agent, 'two agents never share their chain')
  t.equal(a.network, b.network, 'the network-wide chain is the bridge’s, shared')
})

t.test('IPv4: the agent chain holds none and allow by source, internet adds nothing', async (t) => {
  const A = chains.agent
  t.same(agentChainRules(4, input), [
    `-A ${A} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    `-A ${A} -s 172.19.0.3/32 -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${A} -s 172.19.0.3/32 -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -s 172.19.0.4/32 -d 169.254.0.0/16 -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${A} -s 172.19.0.4/32 -d 169.254.0.0/16 -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -s 172.19.0.4/32 -d 172.19.0.0/16 -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${A} -s 172.19.0.4/32 -d 172.19.0.0/16 -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -s 172.19.0.4/32 -d 10.255.255.53/32 -p udp -m udp --dport 53 -j ACCEPT`,
    `-A ${A} -s 172.19.0.4/32 -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j ACCEPT`,
    `-A ${A} -s 172.19.0.4/32 -d 10.1.2.0/24 -p tcp -m tcp --dport 5432 -j ACCEPT`,
    `-A ${A} -s 172.19.0.4/32 -d 10.1.2.0/24 -p udp -m udp --dport 5432 -j ACCEPT`,
    `-A ${A} -s 172.19.0.4/32 -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${A} -s 172.19.0.4/32 -j REJECT --reject-with icmp-port-unreachable`,
    `-A ${A} -j RETURN`
  ])
})

t.test('IPv6: the same order with ICMPv6 rejects, link-local fe80::/10 first', async (t) => {
  const rules = agentChainRules(6, input)
  t.ok(rules.includes(`-A ${chains.agent} -s fd00:dead::3/128 -j REJECT --reject-with icmp6-port-unreachable`), 'none refuses IPv6 too')
  const narrow = rules.filter((rule) => rule.includes('fd00:dead::4/128'))
  t.match(narrow[0], /-d fe80::\/10 -p tcp -j REJECT/)
  t.ok(narrow.includes(`-A ${chains.agent} -s fd00:dead::4/128 -d 2001:db8::10/128 -p tcp -m tcp --dport 80 -j ACCEPT`), 'the bracketed entry is allowed on its port')
  t.ok(narrow.some((rule) => rule.includes('-d 2001:db8:53::53/128 -p udp -m udp --dport 53 -j ACCEPT')), 'DNS to the IPv6 nameserver')
  t.notOk(narrow.some((rule) => rule.includes('10.1.2.0')), 'no IPv4 entry in ip6tables')
  t.match(narrow.at(-1), /-s fd00:dead::4\/128 -j REJECT --reject-with icmp6-port-unreachable$/)
})

t.test('the network chain: established, DNS, then every private and special range refused, then Docker decides', async (t) => {
  const v4 = networkChainRules(4, input)
  t.equal(v4[0], `-A ${chains.network} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`)
  t.equal(v4[1], `-A ${chains.network} -d 10.255.255.53/32 -p udp -m udp --dport 53 -j RETURN`)
  for (const range of ['169.254.0.0/16', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '127.0.0.0/8', '0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4']) {
    t.ok(v4.includes(`-A ${chains.network} -d ${range} -p tcp -j REJECT --reject-with tcp-reset`), `${range} refused`)
  }
  t.ok(v4.indexOf(`-A ${chains.network} -d 10.255.255.53/32 -p tcp -m tcp --dport 53 -j RETURN`) < v4.indexOf(`-A ${chains.network} -d 10.0.0.0/8 -p tcp -j REJECT --reject-with tcp-reset`), 'DNS comes before the private-range refusal')
  t.equal(v4.at(-1), `-A ${chains.network} -j RETURN`)
  const v6 = networkChainRules(6, input)
  for (const range of ['fe80::/10', 'fc00::/7', '::1/128', 'ff00::/8', '::ffff:0:0/96']) t.ok(v6.includes(`-A ${chains.network} -d ${range} -j REJECT --reject-with icmp6-port-unreachable`), `${range} refused`)
})

t.test('the host chain: replies to the host, IPv6 neighbour discovery, nothing else', async (t) => {
  t.same(hostChainRules(4, input), [
    `-A ${chains.host} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    `-A ${chains.host} -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${chains.host} -j REJECT --reject-with icmp-port-unreachable`
  ])
  t.equal(hostChainRules(6, input).filter((rule) => rule.includes('icmpv6-type')).length, 2)
})

t.test('hooks: all in place plans nothing; a lost or misplaced hook is put right in one transaction', async (t) => {
  const agent = `-A DOCKER-USER -i ${input.bridge} -j ${chains.agent}`
  const network = `-A DOCKER-USER -i ${input.bridge} -j ${chains.network}`
  const host = `-A INPUT -i ${input.bridge} -j ${chains.host}`
  const other = `-A DOCKER-USER -i ${input.bridge} -j DTMA-A-cccccccccccc`
  const forward = ['-P FORWARD ACCEPT', '-A FORWARD -j DOCKER-USER']
  const good = planHooks({ dockerUser: ['-N DOCKER-USER', other, agent, network, '-A DOCKER-USER -j RETURN'], forward, input: [host, '-A INPUT -j ACCEPT'] }, input)
  t.same(good, { lines: [], missing: [] })

  const lost = planHooks({ dockerUser: ['-N DOCKER-USER', other, '-A DOCKER-USER -j RETURN'], forward, input: ['-A INPUT -j ACCEPT'] }, input)
  t.same(lost.missing, [agent, network, host])
  t.same(lost.lines, [`-I DOCKER-USER 1 -i ${input.bridge} -j ${chains.agent}`, `-I DOCKER-USER 3 -i ${input.bridge} -j ${chains.network}`, `-I INPUT 1 -i ${input.bridge} -j ${chains.host}`])

  // Another agent hooked after the shared chain: its allow lists would meet the private-range refusal first.
  const misplaced = planHooks({ dockerUser: [agent, network, other], forward, input: ['-A INPUT -j ACCEPT', host] }, input)
  t.same(misplaced.missing, [])
  t.same(misplaced.lines, [`-D DOCKER-USER -i ${input.bridge} -j ${chains.agent}`, `-D DOCKER-USER -i ${input.bridge} -j ${chains.network}`, `-I DOCKER-USER 1 -i ${input.bridge} -j ${chains.agent}`, `-I DOCKER-USER 3 -i ${input.bridge} -j ${chains.network}`, `-D INPUT -i ${input.bridge} -j ${chains.host}`, `-I INPUT 1 -i ${input.bridge} -j ${chains.host}`])

  const noDockerV6 = planHooks({ dockerUser: undefined, forward: ['-P FORWARD ACCEPT'], input: [] }, input)
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
  for (const [entry, why] of [['169.254.169.254:80', /link-local/], ['[fe80::1]:80', /link-local/], ['169.254.0.0/16:80', /link-local/], ['127.0.0.1:80', /loopback/], ['[::1]:80', /loopback/], ['192.0.2.7:22', /host's own/]] as const) {
    t.throws(() => parseAllowList(['8.8.8.8:53', entry], host, 'egress.allow'), { message: new RegExp(`egress\\.allow\\[1\\] ${JSON.stringify(entry).replace(/[[\]().*+?]/g, '\\$&')}: .*${why.source}`) }, entry)
  }
  t.same(parseAllowList(['0.0.0.0/0:443'], host, 'x').length, 1, 'a wide range is accepted: link-local is refused before it in the rules')
})

t.test('nameservers: loopback ones left out (Docker never forwards to them), zone ids dropped', async (t) => {
  t.same(nameserversOf('# comment\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fe80::1%eth0\nnameserver ::1\noptions edns0\n'), ['10.255.255.53', 'fe80::1'])
})
