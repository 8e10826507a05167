// The per-instance policies (none, allow) are rules on a tool's address, and
// Docker gives a stopped tool's address to the next container that starts.
// Tried as a hostile tool would: an `internet` tool restarts into the address
// an `allow 10.99.0.0/24:80` tool had (must not reach 10.99.0.10), and a
// `none` tool comes back on a new address (must still reach nothing), both
// while the agent runs (its rules follow Docker's events) and while no agent
// runs (the rules stay as it left them). The probe keeps trying from the
// moment the container starts.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { freePort, TOKEN } from '../helpers/agent.ts'
import { netLab } from '../helpers/netns.ts'
import { containerAddress, probe, startPolicyAgent, type PolicyAgent, type Target } from '../helpers/probe.ts'
import { waitFor } from '../helpers/wait.ts'
import { statusOf, v4Lab } from './lab.ts'

const run = promisify(execFile)
const docker = (...args: string[]) => run('docker', args, { timeout: 60_000 })

/** Probes the target from the container for a few seconds from its start; every reach is kept. */
async function watch(containerId: string, target: Target, tries = 12): Promise<{ tries: number; reached: string[]; refused: string[] }> {
  const seen = { tries: 0, reached: [] as string[], refused: [] as string[] }
  for (let attempt = 0; attempt < tries; attempt++) {
    const result = await probe(containerId, target).catch(() => undefined)
    if (result === undefined) continue
    seen.tries++
    ;(result.seen === 'reached' ? seen.reached : seen.refused).push(`try ${attempt + 1}: ${result.detail}`)
  }
  return seen
}

async function scenario(t: Test, agentDown: boolean) {
  const lab = await netLab(t)
  const stand = await v4Lab(lab, await freePort())
  const priv = stand.targets.find((target) => target.host === '10.99.0.10' && target.port === 80)!
  const outside = stand.targets.find((target) => target.host === '203.0.113.10' && target.port === 80)!
  const policy: PolicyAgent = await startPolicyAgent(t)
  // In this order Docker gives the allow tool the lowest address, then the others.
  const allowed = await policy.tool('Allowed', { allow: ['10.99.0.0/24:80'] })
  const hostile = await policy.tool('Hostile')
  const walled = await policy.tool('Walled', 'none', await freePort())
  const before = { allowed: await containerAddress(allowed, policy.network), hostile: await containerAddress(hostile, policy.network), walled: await containerAddress(walled, policy.network) }
  t.equal((await probe(allowed, priv)).seen, 'reached', 'control: the allow tool reaches 10.99.0.10')
  t.equal((await probe(hostile, priv)).seen, 'refused', 'control: the internet tool does not')
  t.equal((await probe(hostile, outside)).seen, 'reached', 'control: the internet tool reaches the outside host')

  if (agentDown) {
    await policy.agent.kill('SIGKILL')
    await docker('stop', '-t', '1', allowed)
  } else {
    // Its owner stops the allow tool (the agent then keeps it stopped).
    const stopped = await fetch(`http://127.0.0.1:${policy.port}/tools/${encodeURIComponent(policy.nameOf(allowed))}/stop`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(stopped.status, 200, 'the allow tool is stopped through the agent')
  }
  // The hostile tool exits and starts again (as its restart policy would): it takes the lowest free address.
  await docker('stop', '-t', '1', hostile, walled)
  await docker('start', hostile)
  const taken = await containerAddress(hostile, policy.network)
  t.comment(`addresses before: ${JSON.stringify(before)}; the hostile tool now has ${taken}`)
  t.equal(taken, before.allowed, "the hostile tool has the allow tool's former address (the case under test)")
  const escalation = await watch(hostile, priv)
  const row = `10.99.0.10:80 from an internet tool on an allow tool's former address | internet, agent ${agentDown ? 'down' : 'up'} | refused every try | ${escalation.tries} tries, ${escalation.reached.length} reached`
  t.comment(row)
  t.same(escalation.reached, [], row)

  // The none tool starts again on an address no rule names yet (the allow tool's next).
  await docker('start', walled)
  const walledNow = await containerAddress(walled, policy.network)
  t.comment(`the none tool was ${before.walled}, now ${walledNow}`)
  const escape = await watch(walled, outside)
  const row2 = `203.0.113.10:80 from a none tool on a new address | none (with a port), agent ${agentDown ? 'down' : 'up'} | refused every try | ${escape.tries} tries, ${escape.reached.length} reached`
  t.comment(row2)
  t.same(escape.reached, [], row2)
  t.ok(escalation.tries > 0 && escape.tries > 0, 'the watches probed')
  if (agentDown) {
    // The agent back: its rules follow the addresses again.
    await policy.restart()
    t.equal((await statusOf(policy))?.state, 'enforced', 'the agent is back and enforcing')
    const settled = await waitFor(async () => ((await probe(hostile, priv)).seen === 'refused' && (await probe(walled, outside)).seen === 'refused' ? true : undefined), 30_000, 500)
    t.comment(`after the agent's start | both refused: ${settled === true}`)
    t.ok(settled, 'once the agent runs again, neither reaches')
  }
}

t.test('an address passed from one tool to another while the agent runs', (t) => scenario(t, false))
t.test('an address passed from one tool to another while no agent runs', (t) => scenario(t, true))

// The rules may name a narrowed tool by its MAC address: a deploy cannot claim another tool's.
t.test("a deploy asking for an allow tool's MAC address does not get its allow list", async (t) => {
  const lab = await netLab(t)
  const stand = await v4Lab(lab, await freePort())
  const priv = stand.targets.find((target) => target.host === '10.99.0.10' && target.port === 80)!
  const policy = await startPolicyAgent(t)
  const allowed = await policy.tool('Allowed', { allow: ['10.99.0.0/24:80'] })
  const mac = (await inspectMac(allowed, policy.network)) ?? ''
  t.equal((await probe(allowed, priv)).seen, 'reached', 'control: the allow tool reaches 10.99.0.10')
  const stopped = await fetch(`http://127.0.0.1:${policy.port}/tools/${encodeURIComponent(policy.nameOf(allowed))}/stop`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(stopped.status, 200, 'the allow tool is stopped')
  const variants: Record<string, unknown>[] = [{ MacAddress: mac }, { HostConfig: { MacAddress: mac } }, { NetworkingConfig: { EndpointsConfig: { [policy.network]: { MacAddress: mac } } } }]
  for (const [index, override] of variants.entries()) {
    const reply = await fetch(`http://127.0.0.1:${policy.port}/tools`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dockerImageUrl: 'dtma-test/busybox:v1', instanceNameOnToolbox: `Claims Mac ${index} ${Date.now()}`, accountToolInstanceId: `ati-mac-${index}-${Date.now()}`, baseConfigOverrideJson: override })
    })
    const body = (await reply.json()) as { data?: { container_id?: string } }
    const shown = JSON.stringify(override).replace(mac, 'MAC')
    t.comment(`deploy ${shown} | 400, or a deploy without that MAC | ${reply.status} ${JSON.stringify(body).slice(0, 200)}`)
    if (reply.status !== 201) {
      t.equal(reply.status, 400, `${shown}: refused with a 400`)
      continue
    }
    const hostile = body.data?.container_id ?? ''
    await waitFor(async () => ((await inspectMac(hostile, policy.network)) ? true : undefined), 30_000)
    const got = await inspectMac(hostile, policy.network)
    const seen = await probe(hostile, priv)
    t.comment(`${shown}: its MAC ${got}; 10.99.0.10:80 from it | refused | ${seen.seen} (${seen.detail})`)
    t.not(got, mac, `${shown}: it does not get the allow tool's MAC address`)
    t.equal(seen.seen, 'refused', `${shown}: it does not reach 10.99.0.10`)
  }
})

async function inspectMac(containerId: string, network: string): Promise<string | undefined> {
  const { stdout } = await docker('inspect', '-f', `{{with index .NetworkSettings.Networks "${network}"}}{{.MacAddress}}{{end}}`, containerId).catch(() => ({ stdout: '' }))
  return stdout.trim() || undefined
}
