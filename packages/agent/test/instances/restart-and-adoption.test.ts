// The incident that started DTMA: an agent restart must never turn running
// containers into "not found". Also: a lost store, and operations a crash cut.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { STORE_FILE_NAME } from '../../src/store/instance-store.ts'
import { docker, freePort, removeInstances, scopeFor, tempDir, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'
import { spawnAgent } from '../helpers/agent-process.ts'
import { specHash } from '../../src/instances/spec.ts'
import { containerNameFor } from '../../src/instances/container-name.ts'
import { InstanceStore } from '../../src/store/instance-store.ts'

function deployBody(name: string, hostPort: number) {
  return {
    dockerImageUrl: TEST_IMAGE,
    instanceNameOnToolbox: name,
    accountToolInstanceId: 'ati-restart',
    baseConfigOverrideJson: { Env: ['API_KEY=kept-in-the-store'], HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: String(hostPort) }] } } }
  }
}

t.test('regression: deploy, kill -9 the agent, start it again: start/stop/delete all answer 200', async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const name = uniqueName('Incident')
  t.teardown(() => removeInstances([name]))

  const first = spawnAgent(dataDir, port)
  t.teardown(() => first.kill())
  await first.ready()
  t.equal((await first.client.deployTool({ body: deployBody(name, await freePort()) })).status, 201)
  await first.kill('SIGKILL')

  const second = spawnAgent(dataDir, port)
  t.teardown(() => second.kill())
  await second.ready()
  t.match(await second.client.getTool({ params: { name } }), { status: 200, body: { data: { status: 'running', desired_state: 'running' } } })
  t.match(await second.client.stopTool({ params: { name } }), { status: 200, body: { data: { state: 'stopped' } } })
  t.match(await second.client.startTool({ params: { name } }), { status: 200, body: { data: { state: 'running' } } })
  t.match(await second.client.restartTool({ params: { name } }), { status: 200, body: { data: { state: 'running' } } })
  t.match(await second.client.removeTool({ params: { name } }), { status: 200 })
  t.equal((await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${name}`] } })).length, 0)
})

t.test('store file deleted: running labelled containers are adopted and controllable', async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const name = uniqueName('Adopted')
  t.teardown(() => removeInstances([name]))

  const first = spawnAgent(dataDir, port)
  t.teardown(() => first.kill())
  await first.ready()
  const deployed = await first.client.deployTool({ body: deployBody(name, await freePort()) })
  t.equal(deployed.status, 201)
  await first.kill('SIGTERM')
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dataDir, STORE_FILE_NAME + suffix), { force: true })

  const second = spawnAgent(dataDir, port)
  t.teardown(() => second.kill())
  await second.ready()
  t.match(second.output(), /adopted a labelled container the store did not know/)
  const adopted = await second.client.getTool({ params: { name } })
  t.match(adopted, { status: 200, body: { data: { status: 'running', desired_state: 'running', container_id: deployed.status === 201 ? deployed.body.data.container_id : '' } } })
  t.match(await second.client.stopTool({ params: { name } }), { status: 200, body: { data: { state: 'stopped' } } })
  t.match(await second.client.startTool({ params: { name } }), { status: 200, body: { data: { state: 'running' } } })
  const again = await second.client.deployTool({ body: deployBody(name, 1) })
  t.match(again, { status: 409 }, 'a different spec under the adopted name is still a conflict')
  t.match(await second.client.removeTool({ params: { name } }), { status: 200 })
  await second.kill('SIGTERM')

  // Containers without the DTMA label are never touched.
  const stranger = await docker.createContainer({ name: `not-dtma-${Date.now()}`, Image: TEST_IMAGE, Labels: { 'dtma.instance-name': name } })
  t.teardown(() => stranger.remove({ force: true }))
  const third = spawnAgent(dataDir, port)
  t.teardown(() => third.kill())
  await third.ready()
  t.match(await third.client.getTool({ params: { name } }), { status: 404 })
  t.equal((await stranger.inspect()).State.Status, 'created', 'the unlabelled container is untouched')
})

t.test('operations a crash interrupted are finished or rolled back from the journal', async (t) => {
  const dataDir = tempDir(t)
  const [rolledBack, finishedRemove, finishedDeploy] = [uniqueName('Rolled Back'), uniqueName('Half Removed'), uniqueName('Half Deployed')]
  t.teardown(() => removeInstances([rolledBack, finishedRemove, finishedDeploy]))
  const store = new InstanceStore(dataDir)
  const record = (instanceName: string, pendingOperation: 'deploy' | 'remove') => {
    const spec = { instanceName, accountToolInstanceId: 'ati-j', image: TEST_IMAGE, env: [], ports: [] }
    return { instanceName, containerName: containerNameFor(instanceName), spec, specHash: specHash(spec), desiredState: 'running' as const, pendingOperation }
  }
  // A deploy cut before its container existed; a remove cut after the journal
  // entry; a deploy cut between create and start.
  store.put(record(rolledBack, 'deploy'))
  const half = record(finishedRemove, 'remove')
  store.put(half)
  await docker.createContainer({ name: half.containerName, Image: TEST_IMAGE, Labels: { 'dtma.managed': 'true', 'dtma.scope': scopeFor(dataDir), 'dtma.instance-name': finishedRemove, 'dtma.spec-hash': half.specHash } })
  const made = record(finishedDeploy, 'deploy')
  store.put(made)
  await docker.createContainer({ name: made.containerName, Image: TEST_IMAGE, Labels: { 'dtma.managed': 'true', 'dtma.scope': scopeFor(dataDir), 'dtma.instance-name': finishedDeploy, 'dtma.spec-hash': made.specHash } })
  store.close()

  const agent = spawnAgent(dataDir, await freePort())
  t.teardown(() => agent.kill())
  await agent.ready()
  t.match(await agent.client.getTool({ params: { name: rolledBack } }), { status: 404 }, 'deploy without a container: rolled back')
  t.match(await agent.client.getTool({ params: { name: finishedRemove } }), { status: 404 }, 'remove: finished')
  t.equal((await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${finishedRemove}`] } })).length, 0)
  t.match(await agent.client.getTool({ params: { name: finishedDeploy } }), { status: 200, body: { data: { status: 'running', docker_status: 'running' } } }, 'deploy with a container: finished')
})
