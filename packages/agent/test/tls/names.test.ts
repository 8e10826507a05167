// What the agent's certificate names: the host's addresses a caller can use,
// never Docker's bridges and veths (they come and go with every tool network,
// and a certificate naming them would be made again at each restart) nor a
// link-local address.
import type { NetworkInterfaceInfo } from 'node:os'
import t from 'tap'
import { wantedNames } from '../../src/tls/certificate.ts'

function entry(address: string): NetworkInterfaceInfo {
  const family = address.includes(':') ? 'IPv6' : 'IPv4'
  return { address, family, netmask: family === 'IPv4' ? '255.255.255.0' : 'ffff:ffff:ffff:ffff::', mac: '02:42:00:00:00:01', internal: false, cidr: null } as NetworkInterfaceInfo
}

t.test("the host's addresses, loopback and the extra names; Docker's interfaces and link-local addresses left out", async (t) => {
  const interfaces = {
    lo: [entry('127.0.0.1'), entry('::1'), entry('169.254.169.254')],
    eth0: [entry('192.0.2.2'), entry('fe80::1'), entry('2001:db8::2')],
    br0: [entry('198.51.100.4')],
    docker0: [entry('172.17.0.1')],
    docker_gwbridge: [entry('172.18.0.1')],
    'br-0123456789ab': [entry('172.20.0.1')],
    veth9f2c1d0: [entry('fe80::2')]
  }
  t.same(wantedNames(['Toolbox.Example', ' 203.0.113.7'], interfaces), ['127.0.0.1', '192.0.2.2', '198.51.100.4', '2001:db8::2', '203.0.113.7', '::1', 'localhost', 'toolbox.example'])
})

t.test('a new tool network between two starts changes nothing', async (t) => {
  const before = { lo: [entry('127.0.0.1')], eth0: [entry('192.0.2.2')], docker0: [entry('172.17.0.1')] }
  const after = { ...before, 'br-fedcba987654': [entry('172.21.0.1')], veth0a1b2c3: [entry('fe80::9')] }
  t.same(wantedNames([], after), wantedNames([], before))
  t.not(wantedNames([], { ...before, eth1: [entry('198.51.100.9')] }).join(), wantedNames([], before).join(), 'a new address of the host does')
})
