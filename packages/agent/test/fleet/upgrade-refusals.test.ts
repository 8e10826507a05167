// dtma-upgrade's check step on a real Docker engine: every reason it refuses
// before anything changes (no such container, one that is not running, a
// `-previous` left by a cut-short upgrade, no address to reach the agent at,
// an image that is neither local nor pullable, a data volume the agent does
// not use) ends `unchanged` with one
// `done failed` event that says why, and the container is left as it was.
// A failed pull of an image that is local goes on with the local copy.
import { randomBytes } from 'node:crypto'
import type { UpgradeEvent } from '@dtma/contract'
import t, { type Test } from 'tap'
import { parseInvocation } from '../../src/fleet/upgrade/args.ts'
import { Report } from '../../src/fleet/upgrade/report.ts'
import { Upgrade, type UpgradeOptions } from '../../src/fleet/upgrade/upgrade.ts'
import { DockerAgentHost } from '../../src/runtime/docker/agent-host.ts'
import { docker, TEST_IMAGE } from '../helpers/agent.ts'

const host = new DockerAgentHost('/var/run/docker.sock')
const id = randomBytes(4).toString('hex')

async function container(t: Test, name: string, start: boolean): Promise<string> {
  const made = await docker.createContainer({ name, Image: TEST_IMAGE })
  t.teardown(() => made.remove({ force: true }).catch(() => undefined))
  if (start) await made.start()
  return made.id
}

async function upgrade(options: Partial<UpgradeOptions> & { container: string }): Promise<{ outcome: string; events: UpgradeEvent[] }> {
  const events: UpgradeEvent[] = []
  const report = new Report(`op-${id}`, (line) => events.push(JSON.parse(line) as UpgradeEvent), true)
  const outcome = await new Upgrade(host, { image: TEST_IMAGE, pull: 'never', timeoutMs: 5000, backupDir: '/nonexistent', dataVolume: `dtma-data-refusal-${id}`, ...options }, report).run()
  return { outcome, events }
}

async function stateOf(name: string): Promise<string | undefined> {
  return docker.getContainer(name).inspect().then((info) => info.State.Status, () => undefined)
}

t.test('no such container', async (t) => {
  const { outcome, events } = await upgrade({ container: `dtma-absent-${id}` })
  t.equal(outcome, 'unchanged')
  t.match(events, [{ operation_id: `op-${id}`, step: 'done', status: 'failed', message: `nothing was changed: no container named dtma-absent-${id}` }])
})

t.test('a container that is not running', async (t) => {
  const name = `dtma-stopped-${id}`
  await container(t, name, false)
  const { outcome, events } = await upgrade({ container: name })
  t.equal(outcome, 'unchanged')
  t.match(events.at(-1)?.message, `${name} is created, not running: start it first`)
  t.equal(await stateOf(name), 'created', 'left as it was')
})

t.test('a -previous container left by a cut-short upgrade', async (t) => {
  const name = `dtma-cut-${id}`
  await container(t, name, true)
  await container(t, `${name}-previous`, false)
  const { outcome, events } = await upgrade({ container: name })
  t.equal(outcome, 'unchanged')
  t.match(events.at(-1)?.message, `${name}-previous exists (an earlier upgrade was cut short)`)
  t.equal(await stateOf(name), 'running', 'the agent runs on')
})

t.test('an agent that publishes no port, without --url', async (t) => {
  const name = `dtma-noport-${id}`
  await container(t, name, true)
  const { outcome, events } = await upgrade({ container: name })
  t.equal(outcome, 'unchanged')
  t.match(events.at(-1)?.message, `container ${name} publishes no host port for the agent's port 30000/tcp: name the agent's address with --url`)
})

// From here the agent's address is given (--url): these containers publish none.
const url = 'http://127.0.0.1:9'

t.test('an image that is not here, with --pull never and with a pull that fails', async (t) => {
  const name = `dtma-noimage-${id}`
  await container(t, name, true)
  const absent = `127.0.0.1:5000/dtma-test/absent-${id}:v1`
  const never = await upgrade({ container: name, image: absent, pull: 'never', url })
  t.equal(never.outcome, 'unchanged')
  t.match(never.events.at(-1)?.message, `image ${absent} is not on this host (pull it, or use --pull)`)
  const pulled = await upgrade({ container: name, image: absent, pull: 'missing', url })
  t.equal(pulled.outcome, 'unchanged')
  t.match(pulled.events.map((event) => [event.step, event.status]), [['pull', 'running'], ['done', 'failed']], 'it tried to pull, then refused')
  t.equal(await stateOf(name), 'running', 'the agent runs on')
})

t.test('a pull that fails for an image that is here uses the local copy; a data volume it does not use is refused', async (t) => {
  const name = `dtma-volume-${id}`
  await container(t, name, true)
  // Local only: the registry has no such tag, so the pull fails.
  const localOnly = `127.0.0.1:5000/dtma-test/local-only-${id}:v1`
  await docker.getImage(TEST_IMAGE).tag({ repo: `127.0.0.1:5000/dtma-test/local-only-${id}`, tag: 'v1' })
  t.teardown(() => docker.getImage(localOnly).remove().catch(() => undefined))
  const volume = `dtma-data-refusal-${id}`
  await docker.createVolume({ Name: volume })
  t.teardown(() => docker.getVolume(volume).remove().catch(() => undefined))
  const { outcome, events } = await upgrade({ container: name, image: localOnly, pull: 'always', dataVolume: volume, url })
  t.equal(outcome, 'unchanged')
  t.match(events[1]?.message, /^pull failed \(.*\); the local copy of .* is used$/, 'the local copy is used')
  t.match(events.at(-1)?.message, `volume ${volume} exists but ${name} does not keep its store there`)
  t.equal(await stateOf(name), 'running', 'the agent runs on')
})

t.test('the plain report is a sentence per step; the operation id defaults to a new one', async (t) => {
  const lines: string[] = []
  new Report('op', (line) => lines.push(line), false).event('done', 'failed', 'why')
  new Report('op', (line) => lines.push(line), false).event('pull', 'running', 'pulling x')
  t.match(lines, [/^dtma-upgrade \[\d+\.\ds\] done \(failed\): why$/, /^dtma-upgrade \[\d+\.\ds\] pull: pulling x$/])
  const [first, second] = [parseInvocation(['--image', 'x']), parseInvocation(['--image', 'x'])]
  t.not(first.operationId, second.operationId)
  t.match(parseInvocation(['-h']), { help: true })
  t.match(parseInvocation(['--image', 'x', '--url', 'http://10.0.0.1:30000', '--operation-id', 'op-1', '--json']), { json: true, operationId: 'op-1', upgrade: { url: 'http://10.0.0.1:30000' } })
})
