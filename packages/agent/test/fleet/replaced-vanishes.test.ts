// The container a take-over replaces can vanish between a look at it and its
// stop: the last call of an agent killed after its new container started
// removes the old one while the next agent finishes the take-over from the
// journal, or someone removes the earlier agent's container while a deploy
// takes it over. Either way the new container is all that is left: it stays
// and runs on the old one's host port, never removed with it (never none).
// Real Docker throughout: the runtime removes the old container for real just
// before the agent's stop of it, so the stop meets Docker's own 404.
import t, { type Test } from 'tap'
import { containerNameFor } from '../../src/instances/container-name.ts'
import { specHash } from '../../src/instances/spec.ts'
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts'
import type { ContainerRuntime } from '../../src/runtime/types.ts'
import { InstanceStore } from '../../src/store/instance-store.ts'
import { docker, freePort, scopeFor, startTestAgent, tempDir, TEST_IMAGE, type TestAgent } from '../helpers/agent.ts'
import { onHostPort } from '../helpers/containers.ts'
import { earlierAgentTool, legacyName, type EarlierTool } from '../helpers/earlier-agent.ts'
import { waitFor } from '../helpers/wait.ts'

/** A real runtime whose stop of a doomed container first removes it, as a dying agent's last call would;
 *  `blockers` maps a doomed container to a start that takes its host port as it goes. */
function vanishingOnStop(dataDir: string, doomed: Set<string>, vanished: string[], blockers = new Map<string, () => Promise<void>>()): ContainerRuntime {
  const real = new DockerRuntime({
    socketPath: '/var/run/docker.sock',
    scope: scopeFor(dataDir),
    sandbox: { memoryBytes: 64 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' },
    pullTimeoutMs: 5000
  })
  return new Proxy(real, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function') return value
      if (property !== 'stop') return (value as (...args: unknown[]) => unknown).bind(target)
      return async (id: string, timeoutSeconds: number) => {
        if (doomed.delete(id)) {
          await docker.getContainer(id).remove({ force: true })
          await blockers.get(id)?.()
          vanished.push(id)
        }
        return target.stop(id, timeoutSeconds)
      }
    }
  })
}

async function checkTakenOver(t: Test, agent: TestAgent, old: EarlierTool, since: number, label: string): Promise<void> {
  const got = await waitFor(async () => {
    const reply = await agent.client.getTool({ params: { name: old.instanceName } })
    return reply.status === 200 && reply.body.data.status === 'running' ? reply : undefined
  }, 30_000)
  const seen = await agent.client.getTool({ params: { name: old.instanceName } })
  t.comment(`${label}: expected 200 running on ${old.hostPort}; seen ${seen.status} ${seen.status === 200 ? `${seen.body.data.status} on ${JSON.stringify(seen.body.data.ports.map((port) => port.host_port))}` : ''}`)
  t.match(got, { status: 200, body: { data: { status: 'running', ports: [{ host_port: old.hostPort }] } } }, `${label}: the new one runs on the old one's port`)
  const holders = await onHostPort(old.hostPort, since)
  t.equal(holders.length, 1, `${label}: one container on the old one's port`)
  t.ok(got !== undefined && holders[0]?.Id === got.body.data.container_id, `${label}: and it is the instance's`)
  t.equal(await docker.getContainer(old.id).inspect().catch(() => undefined), undefined, `${label}: the old one is gone`)
}

t.test('a replaced container that vanishes before its stop leaves the new one running, never none', async (t) => {
  const since = Math.floor(Date.now() / 1000) - 1
  const dataDir = tempDir(t)
  const doomed = new Set<string>()
  const vanished: string[] = []
  const blockers = new Map<string, () => Promise<void>>()

  // A journalled take-over whose new container is made, not started, and whose old one runs: what a kill -9 leaves.
  const journalled = await earlierAgentTool(t, { name: legacyName('vanish-journal'), hostPort: await freePort() })
  const spec = { instanceName: journalled.instanceName, accountToolInstanceId: '', image: TEST_IMAGE, env: [], ports: [{ container_port: 8080, protocol: 'tcp', host_ip: '127.0.0.1', host_port: journalled.hostPort }], takenOverFrom: journalled.name }
  const record = { instanceName: journalled.instanceName, containerName: containerNameFor(journalled.instanceName), spec, specHash: specHash(spec), desiredState: 'running' as const }
  const store = new InstanceStore(dataDir)
  store.put({ ...record, pendingOperation: 'deploy', replaces: { containerId: journalled.id, containerName: journalled.name, wasRunning: true } })
  store.close()
  await docker.createContainer({
    name: record.containerName,
    Image: TEST_IMAGE,
    Labels: { 'dtma.managed': 'true', 'dtma.scope': scopeFor(dataDir), 'dtma.instance-name': record.instanceName, 'dtma.spec-hash': record.specHash, 'dtma.taken-over-from': journalled.name },
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(journalled.hostPort) }] } }
  })
  doomed.add(journalled.id)

  // A short resync: the third case waits for the reconciler to finish what a failed take-over left.
  // Teardowns run last first: this one after the agent's (a living agent makes again what is removed under it).
  t.teardown(async () => {
    const left = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scopeFor(dataDir)}`] } })
    await Promise.all(left.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
  })
  const agent = await startTestAgent(t, { dataDir, env: { DTMA_RESYNC_INTERVAL_S: '2' }, runtime: vanishingOnStop(dataDir, doomed, vanished, blockers) })
  t.same(vanished, [journalled.id], 'finished from the journal: the old one vanished just before the stop')
  await checkTakenOver(t, agent, journalled, since, 'finished from the journal')

  // A deploy naming the earlier agent's container while it is removed under the take-over.
  const named = await earlierAgentTool(t, { name: legacyName('vanish-deploy'), hostPort: await freePort() })
  doomed.add(named.id)
  const deployed = await agent.client.deployTool({ body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: named.name, accountToolInstanceId: `ati-${named.name}` } })
  t.comment(`taken over by a deploy: expected 201; seen ${deployed.status}${deployed.status === 201 ? '' : ` ${JSON.stringify(deployed.body)}`}`)
  t.equal(deployed.status, 201, 'taken over by a deploy: answered as a take-over')
  t.same(vanished, [journalled.id, named.id], 'taken over by a deploy: the old one vanished just before the stop')
  await checkTakenOver(t, agent, named, since, 'taken over by a deploy')

  // The old one vanishes and another container takes its port before the new one starts: the new one
  // cannot start, and stays (pending) instead of going; once the port is free again it is started.
  const blocked = await earlierAgentTool(t, { name: legacyName('vanish-blocked'), hostPort: await freePort() })
  let blocker: string | undefined
  t.teardown(() => (blocker === undefined ? undefined : docker.getContainer(blocker).remove({ force: true }).catch(() => undefined)))
  blockers.set(blocked.id, async () => {
    const made = await docker.createContainer({ Image: TEST_IMAGE, ExposedPorts: { '8080/tcp': {} }, HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(blocked.hostPort) }] } } })
    blocker = made.id
    await made.start()
  })
  doomed.add(blocked.id)
  const refused = await agent.client.deployTool({ body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: blocked.name, accountToolInstanceId: `ati-${blocked.name}` } })
  t.comment(`port taken as the old one vanished: deploy answered ${refused.status}${refused.status === 201 ? '' : ` ${JSON.stringify(refused.body)}`}`)
  t.same(vanished, [journalled.id, named.id, blocked.id], 'port taken as the old one vanished: the old one vanished just before the stop')
  const kept = await agent.client.getTool({ params: { name: blocked.name } })
  t.comment(`port taken as the old one vanished: expected the instance kept (200, pending); seen ${kept.status} ${kept.status === 200 ? kept.body.data.status : ''}`)
  t.equal(kept.status, 200, 'port taken as the old one vanished: the instance is kept')
  t.equal((await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${blocked.name}`] } })).length, 1, 'port taken as the old one vanished: its new container stays')
  // The reconciler tries to finish it while the port is taken: it keeps the new one again.
  const retried = await waitFor(() => (agent.logs.some((line) => line.includes(blocked.name) && line.includes('the replaced container is gone: the new one stays')) ? true : undefined), 30_000)
  t.ok(retried, 'port taken as the old one vanished: the reconciler keeps the new one while it cannot start')
  await docker.getContainer(blocker as string).remove({ force: true })
  await checkTakenOver(t, agent, blocked, since, 'port taken as the old one vanished, then freed')
})
