// A toolbox where the network policy cannot be installed says so and runs
// no tool unprotected: /status reports `degraded` with a reason, and a
// deploy answers 503 with a JSON error, no container made. Two ways it
// happens on a real VM: no iptables on the PATH (a minimal image), and an
// iptables that fails (not root, no kernel support). With the policy off,
// the same toolbox deploys (the operator chose it) and says `off`.
import { chmodSync, existsSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { spawnAgent } from '../helpers/agent-process.ts'
import { docker, freePort, scopeFor, tempDir, TEST_IMAGE, TOKEN } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const json = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

async function agentWith(t: Parameters<typeof tempDir>[0] & { comment(...m: unknown[]): void }, env: Record<string, string>) {
  const dataDir = tempDir(t, 'dtma-degraded-')
  const port = await freePort()
  const agent = spawnAgent(dataDir, port, { DTMA_TOOL_NETWORK: `dtma-np-degraded-${port}`, ...env })
  t.teardown(async () => {
    await agent.kill()
    const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scopeFor(dataDir)}`] } })
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
    await docker.getNetwork(`dtma-np-degraded-${port}`).remove().catch(() => undefined)
  })
  const base = `http://127.0.0.1:${port}`
  // Bounds past a loaded machine's slowest start (the agent is spawned, not awaited).
  const policy = await waitFor(async () => {
    const body = await fetch(`${base}/status`, { headers: json }).then((r) => r.json() as Promise<{ network_policy?: { state?: string; reason?: string } }>, () => undefined)
    // Wait past the first install attempt: until then it says degraded, "not installed yet".
    const policy = body?.network_policy
    return policy === undefined || (policy.state === 'degraded' && /not installed yet/.test(policy.reason ?? '')) ? undefined : policy
  }, 90_000) ?? (await fetch(`${base}/status`, { headers: json }).then((r) => r.json() as Promise<{ network_policy?: { state?: string; reason?: string } }>, () => undefined))?.network_policy
  if (policy === undefined) t.comment(`the agent did not report a policy: ${agent.output().slice(-2000)}`)
  // /ready is 503 until the first sync with Docker is done; a deploy before it would be refused for that.
  await waitFor(async () => ((await fetch(`${base}/health/ready`).then((r) => r.status, () => 0)) === 200 ? true : undefined), 90_000)
  const deploy = await fetch(`${base}/tools`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: `Degraded ${port}`, accountToolInstanceId: `ati-${port}`, baseConfigOverrideJson: null })
  })
  const reply = { status: deploy.status, body: (await deploy.json().catch(() => undefined)) as { error?: string; message?: string } | undefined }
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scopeFor(dataDir)}`] } })
  return { policy, reply, containers: containers.length, output: agent.output }
}

// The PATH without the directories that hold iptables (the launcher still needs node and coreutils).
const nodeOnly = [dirname(process.execPath), ...(process.env.PATH ?? '').split(':')]
  .filter((dir) => dir !== '' && !['iptables', 'ip6tables', 'iptables-restore'].some((name) => existsSync(join(dir, name))))
  .join(':')

t.test('no iptables on the PATH: degraded, and deploys refused', async (t) => {
  const seen = await agentWith(t, { PATH: nodeOnly })
  t.comment(`no iptables | network_policy ${JSON.stringify(seen.policy)} | deploy ${seen.reply.status} ${JSON.stringify(seen.reply.body)} | containers ${seen.containers}`)
  t.equal(seen.policy?.state, 'degraded', 'degraded')
  t.match(seen.policy?.reason, /iptables/i, 'the reason names what is missing')
  t.equal(seen.reply.status, 503, 'a deploy is refused')
  t.equal(seen.reply.body?.error, 'network_policy_unavailable', 'with a JSON error')
  t.equal(seen.containers, 0, 'no container made')
})

t.test('an iptables that fails (not root): degraded, and deploys refused', async (t) => {
  const bin = tempDir(t, 'dtma-fake-iptables-')
  for (const name of ['iptables', 'ip6tables', 'iptables-restore', 'ip6tables-restore']) {
    writeFileSync(join(bin, name), '#!/bin/sh\necho "iptables v1.8.9 (nf_tables): Permission denied (you must be root)" >&2\nexit 4\n')
    chmodSync(join(bin, name), 0o755)
  }
  const seen = await agentWith(t, { PATH: `${bin}:${nodeOnly}` })
  t.comment(`failing iptables | network_policy ${JSON.stringify(seen.policy)} | deploy ${seen.reply.status} ${JSON.stringify(seen.reply.body)} | containers ${seen.containers}`)
  t.equal(seen.policy?.state, 'degraded', 'degraded')
  t.match(seen.policy?.reason, /iptables|denied|root/i, 'the reason says what failed')
  t.equal(seen.reply.status, 503, 'a deploy is refused')
  t.equal(seen.reply.body?.error, 'network_policy_unavailable', 'with a JSON error')
  t.equal(seen.containers, 0, 'no container made')
})

t.test('the policy off on the same toolbox: off, and deploys run', async (t) => {
  const seen = await agentWith(t, { PATH: nodeOnly, DTMA_NETWORK_POLICY: 'off' })
  t.comment(`no iptables, policy off | network_policy ${JSON.stringify(seen.policy)} | deploy ${seen.reply.status} ${JSON.stringify(seen.reply.body)} | containers ${seen.containers}`)
  t.equal(seen.policy?.state, 'off', 'off, not degraded: the operator chose it')
  t.equal(seen.reply.status, 201, 'a deploy runs')
  t.equal(seen.containers, 1, 'its container made')
})
