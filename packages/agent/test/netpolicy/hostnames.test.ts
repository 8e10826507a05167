// Host names in allow lists, tried as a deployer who controls their DNS
// would: the agent resolves them (getaddrinfo, so /etc/hosts stands in for
// the attacker's zone here) and keeps them fresh. A name that resolves to the
// metadata service or to the host opens neither; a name that moves
// (DNS rebinding) from an outside address to the metadata service never
// opens it, and the old address closes once it is resolved again.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { docker, freePort } from '../helpers/agent.ts'
import { hostAddress, netLab } from '../helpers/netns.ts'
import { Matrix, probe, startPolicyAgent, type Target } from '../helpers/probe.ts'
import { waitFor } from '../helpers/wait.ts'
import { METADATA, v4Lab } from './lab.ts'

t.test('allow-list host names: resolved, filtered, and kept fresh', async (t) => {
  const lab = await netLab(t)
  const hostPort = await freePort()
  const stand = await v4Lab(lab, hostPort)
  const metadata = await stand.metadataOnLo()
  const hostV4 = (await hostAddress(4)) ?? '192.0.2.2'
  const id = randomBytes(3).toString('hex')
  const names = { priv: `priv-${id}.dtma.test`, meta: `meta-${id}.dtma.test`, host: `host-${id}.dtma.test`, flip: `flip-${id}.dtma.test` }
  lab.hostsEntry(names.priv, '10.99.0.10')
  lab.hostsEntry(names.meta, METADATA)
  lab.hostsEntry(names.host, hostV4)
  lab.hostsEntry(names.flip, '203.0.113.10')
  // Names resolved again every second, checked at each 2 s resync.
  const policy = await startPolicyAgent(t, { env: { DTMA_EGRESS_RESOLVE_INTERVAL_S: '1', DTMA_RESYNC_INTERVAL_S: '2' } })
  const priv = stand.targets.find((target) => target.host === '10.99.0.10' && target.port === 80)!
  const outside = stand.targets.find((target) => target.host === '203.0.113.10' && target.port === 80)!
  const hostService: Target = { label: "host service on the host's address", host: hostV4, port: hostPort, marker: 'host-service' }

  const matrix = new Matrix(t)
  const privProbe = await policy.tool('Allow Name', { allow: [`${names.priv}:80`] })
  const cases: Array<{ probe: string; policy: string; target: Target; expected: 'reached' | 'refused' }> = [
    { probe: privProbe, policy: `allow ${names.priv}:80`, target: priv, expected: 'reached' },
    { probe: privProbe, policy: `allow ${names.priv}:80`, target: outside, expected: 'refused' }
  ]
  for (const [name, target] of [
    [`${names.meta}:80`, metadata],
    [`${names.host}:${hostPort}`, hostService]
  ] as const) {
    const reply = await policy.deploy('Allow Name Forbidden', { allow: [name] })
    t.comment(`allow ${name} | 400, or accepted and closed | ${reply.status} ${reply.body?.error ?? ''}`)
    t.ok(reply.status === 201 || reply.status === 400, `allow ${name}: a deploy or a 400, got ${reply.status}`)
    if (reply.status !== 201) continue
    const containerId: string = reply.body.data.container_id
    await waitFor(async () => ((await docker.getContainer(containerId).inspect()).State.Running ? true : undefined), 30_000)
    cases.push({ probe: containerId, policy: `allow ${name}`, target, expected: 'refused' })
  }
  await matrix.check(cases)

  // DNS rebinding: the name first points outside (reached), then at the metadata service.
  const flip = await policy.tool('Allow Flip', { allow: [`${names.flip}:80`] })
  // The allow rules of a new container come with the enforcer's resync after its start (closed until then): wait for them.
  const opened = await waitFor(async () => ((await probe(flip, outside)).seen === 'reached' ? true : undefined), 15_000, 200)
  t.equal(opened, true, `allow ${names.flip}:80 reaches 203.0.113.10 while the name points there`)
  lab.hostsEntry(names.flip, METADATA)
  const reachedMetadata: string[] = []
  const closed = await waitFor(async () => {
    const [meta, old] = await Promise.all([probe(flip, metadata), probe(flip, outside)])
    if (meta.seen === 'reached') reachedMetadata.push(meta.detail)
    return old.seen === 'refused' ? true : undefined
  }, 30_000, 200)
  t.comment(`allow ${names.flip}:80 moved to ${METADATA} | metadata refused every try, 203.0.113.10 closed once resolved again | metadata reached ${reachedMetadata.length} times, old address closed: ${closed === true}`)
  t.same(reachedMetadata, [], 'the metadata service is never reached through the moved name')
  t.ok(closed, 'the old address closes once the name is resolved again')
  t.equal((await probe(flip, metadata)).seen, 'refused', 'and metadata stays refused')
  matrix.print('allow-list host names')
})
