// The tools' network policy holds across the agent's own life: killed (-9),
// stopped (SIGTERM, as an upgrade stops it) and started again on the same
// data dir. The tools keep running meanwhile, so the rules must hold while
// no agent runs too. A subset of the IPv4 matrix is probed at each step,
// with a positive control (the outside host under internet) each time.
import t from 'tap'
import { freePort } from '../helpers/agent.ts'
import { netLab } from '../helpers/netns.ts'
import { Matrix, policyName, probe, startPolicyAgent, type Egress, type Target } from '../helpers/probe.ts'
import { expect, statusOf, v4Lab, type Kind } from './lab.ts'

const ALLOW: Egress = { allow: ['10.99.0.0/24:80'] }

t.test('the matrix subset before, while down and after an agent restart', async (t) => {
  const lab = await netLab(t)
  const hostPort = await freePort()
  const stand = await v4Lab(lab, hostPort)
  const metadata = await stand.metadataOnLo()
  const policy = await startPolicyAgent(t)
  const [internet, none, allow] = await Promise.all([policy.tool('Probe Default'), policy.tool('Probe None', 'none', await freePort()), policy.tool('Probe Allow', ALLOW)])
  const targets: Array<Target & { kind: Kind }> = [
    { ...metadata, kind: 'metadata' },
    { kind: 'host', label: 'host service via gateway', host: policy.gateway, port: hostPort, marker: 'host-service' },
    { kind: 'host', label: "agent's port via gateway", host: policy.gateway, port: policy.port },
    ...stand.targets.filter((target) => target.port === 80 && ['203.0.113.10', '10.99.0.10'].includes(target.host))
  ]
  const probes: Array<{ id: string; policy: Egress }> = [
    { id: internet, policy: 'internet' },
    { id: none, policy: 'none' }, // with a port: on the tools' network, under the rules
    { id: allow, policy: ALLOW }
  ]
  const matrix = new Matrix(t)
  // While no agent runs its port answers nothing anyway: not a case then.
  const round = (when: string, agentUp = true) =>
    matrix.check(
      probes.flatMap((p) =>
        targets.filter((target) => agentUp || target.port !== policy.port).map((target) => ({ probe: p.id, policy: `${p.policy === 'none' ? 'none (with a port)' : policyName(p.policy)}, ${when}`, target, ...expect(target, p.policy) }))
      )
    )

  await round('before')
  await policy.agent.kill('SIGKILL')
  await round('agent killed', false)
  // While the agent starts (and installs its rules again) the probe keeps trying the metadata service:
  // no window where it is open.
  const watch = { stop: false, tries: 0, reached: [] as string[] }
  const watching = (async () => {
    while (!watch.stop) {
      const result = await probe(internet, metadata)
      watch.tries++
      if (result.seen === 'reached') watch.reached.push(`try ${watch.tries}: ${result.detail}`)
    }
  })()
  await policy.restart()
  t.equal((await statusOf(policy))?.state, 'enforced', 'enforced after a restart')
  watch.stop = true
  await watching
  t.comment(`metadata during the agent's start | internet | refused every try | ${watch.tries} tries, ${watch.reached.length} reached`)
  t.ok(watch.tries > 0, 'the watch probed')
  t.same(watch.reached, [], 'never reached while the agent started')
  await round('after kill -9 and start')
  await policy.agent.kill('SIGTERM')
  await round('agent stopped', false)
  await policy.restart()
  await round('after stop and start')
  matrix.print('IPv4 matrix subset across agent restarts')
})
