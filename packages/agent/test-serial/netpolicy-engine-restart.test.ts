// The tools' network policy holds across a restart of the Docker engine:
// dockerd stopped and started under a running agent sets up its own
// iptables chains again and restarts the tools (their addresses may change),
// and the probes must find the same doors closed once the tools run again,
// with no window while the engine and the agent come back. Runs alone (it
// stops the engine every other test uses): scripts/run-tests.mjs runs
// test-serial/ last.
import t from 'tap'
import { docker, freePort, TOKEN } from '../test/helpers/agent.ts'
import { netLab } from '../test/helpers/netns.ts'
import { Matrix, policyName, probe, startPolicyAgent, type Egress, type Target } from '../test/helpers/probe.ts'
import { waitFor } from '../test/helpers/wait.ts'
import { expect, statusOf, v4Lab, type Kind } from '../test/netpolicy/lab.ts'
import { keepEngineRunning, restartDockerd, stopDockerd } from './helpers/engine.ts'

const ALLOW: Egress = { allow: ['10.99.0.0/24:80'] }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const running = (id: string) => docker.getContainer(id).inspect().then((c) => (c.State.Running ? true : undefined), () => undefined)

/** The running container of an instance, as its agent knows it: after an engine restart
 *  the agent may have made it again (a container that did not come back), under the same
 *  name, MAC address and policy. */
async function currentContainer(port: number, name: string): Promise<string | undefined> {
  const reply = await fetch(`http://127.0.0.1:${port}/tools/${encodeURIComponent(name)}`, { headers: { authorization: `Bearer ${TOKEN}` } }).catch(() => undefined)
  if (reply?.ok !== true) return undefined
  const id = ((await reply.json()) as { data?: { container_id?: string } }).data?.container_id
  return id !== undefined && (await running(id)) === true ? id : undefined
}

t.test('the matrix subset before and after the engine restarts', async (t) => {
  const lab = await netLab(t)
  const hostPort = await freePort()
  const stand = await v4Lab(lab, hostPort)
  const metadata = await stand.metadataOnLo()
  const policy = await startPolicyAgent(t)
  const toolPort = await freePort()
  const [internetBefore, noneBefore, allowBefore] = await Promise.all([policy.tool('Probe Default'), policy.tool('Probe None', 'none', toolPort), policy.tool('Probe Allow', ALLOW)])
  const targets: Array<Target & { kind: Kind }> = [
    { ...metadata, kind: 'metadata' },
    { kind: 'host', label: 'host service via gateway', host: policy.gateway, port: hostPort, marker: 'host-service' },
    { kind: 'host', label: "agent's port via gateway", host: policy.gateway, port: policy.port },
    ...stand.targets.filter((target) => target.port === 80 && ['203.0.113.10', '10.99.0.10', '192.168.99.10'].includes(target.host))
  ]
  const probes: Array<{ id: string; name: string; policy: Egress }> = [
    { id: internetBefore, name: policy.nameOf(internetBefore), policy: 'internet' },
    { id: noneBefore, name: policy.nameOf(noneBefore), policy: 'none' },
    { id: allowBefore, name: policy.nameOf(allowBefore), policy: ALLOW }
  ]
  const internet = probes[0]!
  const matrix = new Matrix(t)
  const round = (when: string) => matrix.check(probes.flatMap((p) => targets.map((target) => ({ probe: p.id, policy: `${p.policy === 'none' ? 'none (with a port)' : policyName(p.policy)}, ${when}`, target, ...expect(target, p.policy) }))))
  await round('before')

  // Registered last, so it runs first (tap runs teardowns last in, first out), before the agent's containers are removed.
  keepEngineRunning(t)
  t.ok((await stopDockerd()).exited, 'dockerd has exited')
  t.ok(await restartDockerd(), 'dockerd is back')

  // From the engine's return until the agent says enforced again (and a little after), the probe
  // keeps trying the metadata service and the host: no window where either is open.
  const watch = { tries: 0, reached: [] as string[] }
  let settled = false
  const enforcedAgain = waitFor(async () => ((await currentContainer(policy.port, internet.name)) !== undefined && (await statusOf(policy))?.state === 'enforced' ? true : undefined), 90_000, 500).then(async (ok) => {
    await sleep(3000)
    settled = true
    return ok
  })
  while (!settled) {
    const id = await currentContainer(policy.port, internet.name)
    if (id === undefined) {
      await sleep(200)
      continue
    }
    for (const target of [metadata, targets[1]!]) {
      const result = await probe(id, target).catch(() => undefined)
      if (result === undefined) continue
      watch.tries++
      if (result.seen === 'reached') watch.reached.push(`${target.label}: ${result.detail}`)
    }
  }
  t.ok(await enforcedAgain, 'the probes run again and the agent says enforced')
  t.comment(`metadata and host while the engine and the agent came back | internet | refused every try | ${watch.tries} tries, ${watch.reached.length} reached`)
  t.same(watch.reached, [], 'never reached while the engine came back')
  const again = await waitFor(async () => {
    const ids = await Promise.all(probes.map((p) => currentContainer(policy.port, p.name)))
    return ids.every((id) => id !== undefined) ? (ids as string[]) : undefined
  }, 60_000, 500)
  t.ok(again, 'every probe runs again')
  const madeAgain = probes.filter((p, i) => again?.[i] !== p.id).length
  t.comment(`probe containers made again by the agent after the engine restart (rather than restarted by Docker): ${madeAgain} of ${probes.length}`)
  probes.forEach((p, i) => (p.id = again?.[i] ?? p.id))
  await round('after the engine restarted')
  matrix.print('IPv4 matrix subset across an engine restart')
})
