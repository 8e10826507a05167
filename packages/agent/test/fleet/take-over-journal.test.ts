// A take-over journals the container it replaces; a crash leaves one of
// these states, and the next start settles each with one container on the
// old one's host port: no new container (rolled back: the old one runs again
// if it ran), a new one not started (finished: the old one stops and goes),
// a new one that cannot start (rolled back: it goes, the old one runs
// again), a new one running and the old one already gone (finished).
import t from 'tap'
import { containerNameFor } from '../../src/instances/container-name.ts'
import { specHash } from '../../src/instances/spec.ts'
import { InstanceStore } from '../../src/store/instance-store.ts'
import { docker, freePort, scopeFor, tempDir, TEST_IMAGE } from '../helpers/agent.ts'
import { spawnAgent } from '../helpers/agent-process.ts'
import { onHostPort } from '../helpers/containers.ts'
import { earlierAgentTool, legacyName, type EarlierTool } from '../helpers/earlier-agent.ts'

t.test('an interrupted take-over is finished or rolled back from its journal', async (t) => {
  const since = Math.floor(Date.now() / 1000) - 1
  const dataDir = tempDir(t)
  const store = new InstanceStore(dataDir)
  const cases = ['none made, old stopped', 'made, old running', 'made, cannot start', 'running, old gone'] as const
  const tools = new Map<(typeof cases)[number], EarlierTool>()
  const blocker = await docker.createContainer({ Image: TEST_IMAGE, HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(await freePort()) }] } } })
  t.teardown(() => blocker.remove({ force: true }).catch(() => undefined))
  await blocker.start()
  const blockedPort = Number((await blocker.inspect()).HostConfig.PortBindings['8080/tcp'][0].HostPort)

  for (const state of cases) {
    const old = await earlierAgentTool(t, { name: legacyName('journal'), hostPort: await freePort() })
    tools.set(state, old)
    const instanceName = old.instanceName
    // The new container's port: the old one's, but where it must fail to start.
    const hostPort = state === 'made, cannot start' ? blockedPort : old.hostPort
    const spec = { instanceName, accountToolInstanceId: '', image: TEST_IMAGE, env: [], ports: [{ container_port: 8080, protocol: 'tcp', host_ip: '127.0.0.1', host_port: hostPort }], takenOverFrom: old.name }
    const record = { instanceName, containerName: containerNameFor(instanceName), spec, specHash: specHash(spec), desiredState: 'running' as const }
    store.put({ ...record, pendingOperation: 'deploy', replaces: { containerId: old.id, containerName: old.name, wasRunning: true } })
    if (state === 'none made, old stopped') await docker.getContainer(old.id).stop({ t: 1 })
    if (state === 'none made, old stopped') continue
    const made = await docker.createContainer({
      name: record.containerName,
      Image: TEST_IMAGE,
      Labels: { 'dtma.managed': 'true', 'dtma.scope': scopeFor(dataDir), 'dtma.instance-name': instanceName, 'dtma.spec-hash': record.specHash, 'dtma.taken-over-from': old.name },
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } }
    })
    if (state === 'made, cannot start') await docker.getContainer(old.id).stop({ t: 1 })
    if (state === 'running, old gone') {
      await docker.getContainer(old.id).remove({ force: true })
      await made.start()
    }
  }
  store.close()

  const agent = spawnAgent(dataDir, await freePort())
  t.teardown(() => agent.kill())
  await agent.ready()
  for (const [state, old] of tools) {
    const got = await agent.client.getTool({ params: { name: old.instanceName } })
    const holders = await onHostPort(old.hostPort, since)
    const oldNow = await docker.getContainer(old.id).inspect().catch(() => undefined)
    t.equal(holders.length, 1, `${state}: one container on the old one's port`)
    if (state === 'none made, old stopped' || state === 'made, cannot start') {
      t.equal(got.status, 404, `${state}: rolled back`)
      t.equal(oldNow?.State.Running, true, `${state}: the old one runs again`)
      t.same((await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${old.instanceName}`] } })).length, 0, `${state}: no new container`)
    } else {
      t.match(got, { status: 200, body: { data: { status: 'running', ports: [{ host_port: old.hostPort }] } } }, `${state}: finished, running on the old one's port`)
      t.equal(oldNow, undefined, `${state}: the old one is gone`)
      if (got.status === 200) t.equal(holders[0]?.Id, got.body.data.container_id, `${state}: the one on the port is the instance's`)
    }
  }
})
