// What a deploy's `egress: { allow }` can never open, tried as a hostile
// deployer would: link-local and the host's own addresses are refused with a
// 400, and so are their other spellings (the decimal and hex forms a
// resolver accepts, IPv4-mapped IPv6, a range that holds them). A spelling
// the agent accepts must still not reach the metadata service or the host:
// the probe tries them. Malformed values are a 400 JSON error, never a 500.
import t from 'tap'
import { docker, freePort } from '../helpers/agent.ts'
import { hostAddress, netLab } from '../helpers/netns.ts'
import { Matrix, startPolicyAgent, type Target } from '../helpers/probe.ts'
import { waitFor } from '../helpers/wait.ts'
import { v4Lab } from './lab.ts'

t.test('allow entries that would open the metadata service or the host', async (t) => {
  const lab = await netLab(t)
  const hostPort = await freePort()
  const stand = await v4Lab(lab, hostPort)
  const metadata = await stand.metadataOnLo()
  const policy = await startPolicyAgent(t)
  const hostV4 = (await hostAddress(4)) ?? '192.0.2.2'

  const refused = ['169.254.169.254:80', '169.254.0.0/16:80', '[fe80::1]:80', `${policy.gateway}:${hostPort}`, `${hostV4}:${hostPort}`, `203.0.113.1:${hostPort}`, '127.0.0.1:80', '[::1]:80']
  const wronglyAccepted: Array<{ entry: string; id: string }> = []
  for (const entry of refused) {
    const reply = await policy.deploy('Allow Refused', { allow: [entry] })
    t.comment(`allow ${entry} | 400 | ${reply.status} ${reply.body?.error ?? ''}`)
    t.equal(reply.status, 400, `allow ${entry} is refused: ${JSON.stringify(reply.body)}`)
    if (reply.status === 201) wronglyAccepted.push({ entry, id: reply.body.data.container_id })
    else t.match(reply.body, { success: false, error: String }, 'a JSON error')
  }

  // Spellings of the same addresses: refused (400), or accepted and still closed.
  const host: Target = { label: 'host service via gateway', host: policy.gateway, port: hostPort, marker: 'host-service' }
  const tricks = ['2852039166:80', '0xa9fea9fe:80', '169.254.43518:80', '0251.0376.0251.0376:80', '[::ffff:169.254.169.254]:80', '[::ffff:a9fe:a9fe]:80', '0.0.0.0/0:80', `0.0.0.0/0:${hostPort}`, '[::]/0:80', 'localhost:80']
  const matrix = new Matrix(t)
  const accepted: Array<{ entry: string; id: string }> = []
  for (const entry of tricks) {
    const reply = await policy.deploy('Allow Trick', { allow: [entry] })
    t.comment(`allow ${entry} | 400, or accepted and closed | ${reply.status} ${reply.body?.error ?? ''}`)
    t.ok(reply.status === 400 || reply.status === 201, `allow ${entry}: a 400 or a deploy, never ${reply.status}: ${JSON.stringify(reply.body)}`)
    if (reply.status === 201) accepted.push({ entry, id: reply.body.data.container_id })
  }
  await Promise.all([...accepted, ...wronglyAccepted].map(({ id }) => waitRunning(id)))
  await matrix.check([...accepted, ...wronglyAccepted].flatMap(({ entry, id }) => [metadata, host].map((target) => ({ probe: id, policy: `allow ${entry}`, target, expected: 'refused' as const }))))

  const malformed: unknown[] = ['everything', '', 42, null, { allow: 'x' }, { allow: ['no-port'] }, { allow: ['203.0.113.10:0'] }, { allow: ['203.0.113.10:70000'] }, { allow: ['203.0.113.10/33:80'] }, { allow: ['a b:80'] }, { allow: Array(1000).fill('203.0.113.10:80') }, { deny: [] }]
  for (const egress of malformed) {
    const reply = await policy.deploy('Egress Malformed', egress as never)
    const shown = JSON.stringify(egress).slice(0, 60)
    t.comment(`egress ${shown} | 400 | ${reply.status} ${reply.body?.error ?? ''}`)
    // null is "not given" (the default) to a caller that sends every key.
    if (egress === null) t.ok(reply.status === 201 || reply.status === 400, `egress null: the default or a 400, got ${reply.status}`)
    else t.equal(reply.status, 400, `egress ${shown} is a 400: ${JSON.stringify(reply.body)}`)
  }
  matrix.print('allow entries that would open the metadata service or the host')
})

async function waitRunning(id: string): Promise<void> {
  await waitFor(async () => ((await docker.getContainer(id).inspect()).State.Running ? true : undefined), 30_000)
}
