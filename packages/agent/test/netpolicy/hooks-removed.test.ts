// Someone removes the jumps that put the policy in the tools' path (a
// firewall reload, an operator's `iptables -D`): the agent puts them back.
// Only this test's own bridge's jumps are removed (agents of other tests
// share DOCKER-USER and INPUT). The probe shows the doors open while the
// jumps are gone (so the removal is real) and closed again once the agent
// has put them back.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { freePort, TOKEN } from '../helpers/agent.ts'
import { netLab } from '../helpers/netns.ts'
import { probe, startPolicyAgent, type Target } from '../helpers/probe.ts'
import { waitFor } from '../helpers/wait.ts'
import { v4Lab } from './lab.ts'

const run = promisify(execFile)

/** Deletes every rule of DOCKER-USER and INPUT that names this bridge; returns them. */
async function removeHooks(bridge: string): Promise<string[]> {
  const removed: string[] = []
  for (const chain of ['DOCKER-USER', 'INPUT']) {
    const { stdout } = await run('iptables', ['-w', '-S', chain])
    for (const line of stdout.split('\n').filter((rule) => rule.startsWith(`-A ${chain} `) && rule.split(' ').includes(bridge))) {
      await run('iptables', ['-w', '-D', ...line.split(' ').slice(1)])
      removed.push(line)
    }
  }
  return removed
}

t.test('hooks removed from DOCKER-USER and INPUT are put back', async (t) => {
  const lab = await netLab(t)
  const hostPort = await freePort()
  const stand = await v4Lab(lab, hostPort)
  const metadata = await stand.metadataOnLo()
  // The agent checks its hooks every 5 s between its passes; the resync (a full pass) is an hour away
  // here, so only that check can put them back.
  const policy = await startPolicyAgent(t, { env: { DTMA_RESYNC_INTERVAL_S: '3600' } })
  const internet = await policy.tool('Probe Default')
  const host: Target = { label: 'host service via gateway', host: policy.gateway, port: hostPort, marker: 'host-service' }
  const outside = stand.targets.find((target) => target.host === '203.0.113.10' && target.port === 80)!
  const both = async () => [(await probe(internet, metadata)).seen, (await probe(internet, host)).seen]
  t.same(await both(), ['refused', 'refused'], 'metadata and host refused before')

  const removed = await removeHooks(policy.bridge)
  t.comment(`removed: ${removed.join(' ; ')}`)
  t.ok(removed.length >= 2, 'the jumps of this bridge were there')
  const since = Date.now()
  // Open while they are gone (tried at once, before the agent can notice), then closed again.
  const open = await both()
  t.comment(`metadata, host with the jumps gone (first try) | ${open.join(', ')}`)
  const closed = await waitFor(async () => ((await both()).every((seen) => seen === 'refused') ? Date.now() - since : undefined), 30_000, 250)
  const back = (await run('iptables', ['-w', '-S', 'DOCKER-USER'])).stdout.split('\n').filter((rule) => rule.split(' ').includes(policy.bridge))
  t.comment(`metadata and host refused again after ${closed} ms; DOCKER-USER hooks now: ${back.join(' ; ')}`)
  t.ok(closed !== undefined, 'the agent put the jumps back: metadata and host refused again')
  t.ok(back.length >= 2, 'the jumps are in DOCKER-USER again')
  t.equal((await probe(internet, outside)).seen, 'reached', 'control: the outside host is still reached')
  const metrics = await fetch(`http://127.0.0.1:${policy.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text(), () => '')
  t.comment(`metrics: ${metrics.split('\n').filter((line) => /network_policy/.test(line) && !line.startsWith('#')).join(' ; ')}`)
})
