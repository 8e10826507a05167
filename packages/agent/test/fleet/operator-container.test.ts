// An operator's own container beside the agent, made the way a redis is run
// by hand (`docker run -d --restart unless-stopped --name X -v vol:/data
// IMAGE <its own command>`): unlabelled, the earlier agent's restart policy,
// a Docker name, so it once counted as the earlier agent's. The evidence
// says otherwise (a volume, a command of its own), so every call that names
// it is a call on a name the agent does not know: start, stop, restart and
// delete answer 404 (the backend's "deploy it" cue), a deploy makes a new
// instance beside it, and the container itself is never stopped, recreated
// or removed. GET /tools/legacy lists it with why it is not taken.
import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { docker, freePort, removeInstances, startTestAgent, TEST_IMAGE, TOKEN } from '../helpers/agent.ts'
import { callDTMA, callDtmaApi, CallerError } from '../helpers/agentopia-callers.ts'

const enc = encodeURIComponent

async function status(call: () => Promise<unknown>): Promise<number> {
  try {
    await call()
    return 200
  } catch (error) {
    return (error as CallerError).status
  }
}

t.test("an operator's redis-like container survives every call that names it", async (t) => {
  const name = `redis-${randomBytes(3).toString('hex')}`
  const volume = `${name}-data`
  const hostPort = await freePort()
  t.teardown(async () => {
    await docker.getContainer(name).remove({ force: true }).catch(() => undefined)
    await removeInstances([name])
    await docker.getVolume(volume).remove().catch(() => undefined)
  })
  await docker.createVolume({ Name: volume })
  const made = await docker.createContainer({
    name,
    Image: TEST_IMAGE,
    Cmd: ['sh', '-c', 'echo kept > /data/marker; exec httpd -f -p 8080 -h /www'],
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { RestartPolicy: { Name: 'unless-stopped' }, Binds: [`${volume}:/data`], PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } }
  })
  await made.start()
  const before = await made.inspect()

  const agent = await startTestAgent(t)
  const listed = await agent.client.listLegacy()
  if (listed.status !== 200) return t.fail(`GET /tools/legacy: ${listed.status}`)
  t.match(
    listed.body.data.find((candidate) => candidate.container_name === name),
    { eligible: false, why_not: `it mounts volume ${volume} at /data: the earlier agent gave its tools no mounts, and a take-over would lose them`, reasons: ['unlabelled', 'restart-unless-stopped', 'named-like-an-instance'] },
    'listed, never taken, with why'
  )

  for (const [call, path] of [
    ['POST', `/tools/${enc(name)}/start`],
    ['POST', `/tools/${enc(name)}/stop`],
    ['POST', `/tools/${enc(name)}/restart`],
    ['DELETE', `/tools/${enc(name)}`]
  ] as const) {
    t.equal(await status(() => callDTMA(agent.baseUrl, TOKEN, call, path)), 404, `toolbox-tools ${call} ${path}: not one of the agent's instances`)
    t.equal(await status(() => callDtmaApi(agent.baseUrl, TOKEN, call, path.replace(enc(name), name))), 404, `ToolInstanceService ${call} by the raw name: the same`)
  }
  t.match(await agent.client.adoptLegacy({ params: { name }, body: {} }), { status: 404, body: { error: /No container of an earlier agent is named/ } }, 'adopt refuses it too')

  // The backend's answer to a 404 on start is a deploy of that name: a new instance beside it.
  const deployed = await callDTMA(agent.baseUrl, TOKEN, 'POST', '/tools', { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID() })
  t.match(deployed, { success: true, message: `Tool instance '${name}' deployed.`, data: { state: 'running' } })
  t.not(deployed.data.container_id, before.Id, 'in a container of its own')
  t.notOk(String(deployed.message).includes('taken over'), 'nothing was taken over')
  t.match(await callDTMA(agent.baseUrl, TOKEN, 'POST', `/tools/${enc(name)}/stop`), { data: { state: 'stopped' } }, 'stop now acts on the instance the agent made')
  t.match(await callDTMA(agent.baseUrl, TOKEN, 'DELETE', `/tools/${enc(name)}`), { success: true })

  const after = await docker.getContainer(name).inspect()
  t.equal(after.Id, before.Id, 'the same container: never recreated')
  t.equal(after.State.Running, true, 'still running')
  t.equal(after.State.StartedAt, before.State.StartedAt, 'never stopped or restarted')
  t.same(after.Config.Cmd, before.Config.Cmd, 'its own command')
  t.same(
    after.Mounts.map((mount) => [mount.Name, mount.Destination]),
    [[volume, '/data']],
    'its volume'
  )
  t.same(after.Config.Labels, before.Config.Labels, 'no label added')
})
