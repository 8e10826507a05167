// The enforcer's own decisions with a recording executor (no root): allow-list
// host names resolved and kept fresh, a name that resolves to a forbidden
// address left out, a failing iptables turning the state degraded (and the
// gate a 503), and an engine that cannot be read after the first install
// leaving the rules in force.
import pino from 'pino'
import t from 'tap'
import { isDtmaError } from '../../src/errors.ts'
import type { InstanceApi } from '../../src/instances/instance-api.ts'
import { toolMacAddress, type Egress, type Family } from '../../src/model/egress.ts'
import { NetworkPolicyEnforcer } from '../../src/netpolicy/enforcer.ts'
import type { IptablesExecutor } from '../../src/netpolicy/executor.ts'
import type { NetworkInspector } from '../../src/runtime/types.ts'

class RecordingIptables implements IptablesExecutor {
  restores: Array<{ family: Family; text: string }> = []
  failWith: string | undefined
  async list(): Promise<string[] | undefined> {
    return []
  }
  async restore(family: Family, text: string): Promise<void> {
    if (this.failWith !== undefined) throw new Error(this.failWith)
    this.restores.push({ family, text })
  }
  async run(): Promise<void> {}
}

function setup(egress: Egress, resolve: (host: string) => Promise<string[]>) {
  let engineUp = true
  const inspector: NetworkInspector = {
    toolNetwork: async () => {
      if (!engineUp) throw new Error('Docker engine unreachable')
      return { id: 'n'.repeat(64), bridge: 'br-nnnnnnnnnnnn', subnets: [{ subnet: '172.19.0.0/16' }] }
    }
  }
  const views = [{ instanceName: 'tool', view: { containerName: 'dtma-tool', egress } }]
  const instances = { onChange: () => () => undefined, snapshot: () => views } as unknown as InstanceApi
  const executor = new RecordingIptables()
  let lookups = 0
  const enforcer = new NetworkPolicyEnforcer({
    mode: 'enforce', scope: 'unit', network: 'dtma-tools', instances, inspector, executor, logger: pino({ level: 'silent' }),
    resyncIntervalMs: 3_600_000, resolveIntervalMs: 50, families: [4], nameservers: () => ['10.255.255.53'],
    resolve: async (host) => {
      lookups++
      return resolve(host)
    }
  })
  t.teardown(() => enforcer.close())
  return { enforcer, executor, views, lookups: () => lookups, stopEngine: () => (engineUp = false) }
}

const MAC = toolMacAddress('dtma-tool')
const agentChainText = (executor: RecordingIptables) => executor.restores.filter((restore) => restore.text.includes(':DTMA-A-')).map((restore) => restore.text)

t.test('host names of an allow list are resolved, forbidden answers left out, and resolved again after the interval', async (t) => {
  let answer = ['198.51.100.7', '169.254.169.254', '127.0.0.1']
  const { enforcer, executor, lookups } = setup({ allow: ['api.example.com:443'] }, async () => answer)
  await enforcer.start()
  const text = agentChainText(executor)[0] ?? ''
  t.ok(text.includes(`-d 198.51.100.7/32 -p tcp -m mac --mac-source ${MAC} -m tcp --dport 443 -j ACCEPT`), 'the resolved address, from the container’s MAC address')
  t.notMatch(text, /-d 169\.254\.169\.254\/32 .*ACCEPT/, 'a name resolving to the metadata address does not open it')
  t.notMatch(text, /-d 127\.0\.0\.1\/32 .*ACCEPT/, 'nor to loopback')
  t.equal(enforcer.status().state, 'enforced')
  answer = ['198.51.100.8']
  await new Promise((resolve) => setTimeout(resolve, 80))
  await enforcer.sync()
  t.equal(lookups(), 2, 'looked up again once the interval passed')
  t.match(agentChainText(executor).at(-1), /-d 198\.51\.100\.8\/32 -p tcp -m mac --mac-source [0-9a-f:]{17} -m tcp --dport 443 -j ACCEPT/, 'the new address is in the rules')
})

t.test('iptables refusing: degraded with its words, and the gate is a 503', async (t) => {
  const { enforcer, executor } = setup('none', async () => [])
  executor.failWith = 'iptables-restore: line 3 failed'
  await enforcer.start()
  t.match(enforcer.status(), { state: 'degraded', reason: 'iptables-restore: line 3 failed', rules: 0 })
  const refused = await enforcer.assertEnforced().then(() => undefined, (error: unknown) => error)
  t.ok(isDtmaError(refused, 'network-policy-unavailable'), 'a 503 network_policy_unavailable')
  t.equal((refused as { httpStatus?: number }).httpStatus, 503)
  executor.failWith = undefined
  await enforcer.sync()
  t.equal(enforcer.status().state, 'enforced', 'the next pass that succeeds clears it')
})

t.test('the first install leaves an agent chain that exists as it is (a restarted agent does not open its instances before it knows them)', async (t) => {
  const { enforcer, executor } = setup('none', async () => [])
  await enforcer.install()
  t.equal(executor.restores.length, 2, 'chains, then the hooks')
  t.match(executor.restores[1]?.text, /-I DOCKER-USER 1 -i br-nnnnnnnnnnnn -j DTMA-A-[0-9a-f]{12}\n-I DOCKER-USER 2 -i br-nnnnnnnnnnnn -j DTMA-N-/, 'the agent chain hooked before the network default')
  t.notMatch(executor.restores[0]?.text, /:DTMA-A-/, 'the agent chain is not declared (declaring empties it)')
  t.match(executor.restores[0]?.text, /:DTMA-N-[0-9a-f]{12} - \[0:0\]/)
  t.equal(enforcer.status().state, 'enforced')
  await enforcer.follow()
  t.ok(agentChainText(executor).at(-1)?.includes(`-m mac --mac-source ${MAC} -j REJECT`), 'after the first reconcile: the instance’s rules')
})

t.test('a new narrowed container is refused everything before its first start, until its view brings its own rules', async (t) => {
  const { enforcer, executor, views } = setup({ allow: ['203.0.113.10:80'] }, async () => [])
  await enforcer.start()
  const fresh = toolMacAddress('dtma-fresh')
  await enforcer.admit(fresh)
  const admitted = agentChainText(executor).at(-1) ?? ''
  t.ok(admitted.includes(`-p tcp -m mac --mac-source ${fresh} -j REJECT --reject-with tcp-reset`), 'admitted: everything refused')
  t.notOk(admitted.includes(`--mac-source ${fresh} -m tcp`), 'nothing accepted for it yet')
  views.push({ instanceName: 'fresh', view: { containerName: 'dtma-fresh', egress: { allow: ['203.0.113.10:80'] } } })
  await enforcer.sync()
  t.ok(agentChainText(executor).at(-1)?.includes(`-d 203.0.113.10/32 -p tcp -m mac --mac-source ${fresh} -m tcp --dport 80 -j ACCEPT`), 'its view published: its own allow list')
})

t.test('the engine unreadable after the first install: the rules stay, the state stays enforced', async (t) => {
  const { enforcer, executor, stopEngine } = setup('none', async () => [])
  await enforcer.start()
  const installs = executor.restores.length
  stopEngine()
  await enforcer.sync()
  t.equal(enforcer.status().state, 'enforced')
  t.equal(executor.restores.length, installs, 'nothing rewritten while the engine is away')
})
