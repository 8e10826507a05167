// Where tool ports bind (DTMA_TOOL_HOST_IP, loopback by default) when the
// setting changes under existing instances, as on a toolbox moved off the
// earlier default 0.0.0.0: an existing container keeps its binding until
// the backend deploys it again; the same deploy then makes it again on the
// new address with the same host port, image and env (not a 409: the caller
// asked nothing new), and a deploy of another spec is still a conflict.
import t from 'tap'
import { docker, fetchText, freePort, startTestAgent, tempDir, uniqueName } from '../helpers/agent.ts'

async function bindingOf(containerId: string): Promise<string[]> {
  const info = await docker.getContainer(containerId).inspect()
  return Object.entries(info.HostConfig.PortBindings ?? {}).flatMap(([key, bindings]) => (bindings as Array<{ HostIp: string; HostPort: string }>).map((binding) => `${key}>${binding.HostIp}:${binding.HostPort}`))
}

t.test('a change of DTMA_TOOL_HOST_IP moves an instance when it is deployed again, not before', async (t) => {
  const dataDir = tempDir(t)
  const hostPort = await freePort()
  const name = uniqueName('Moved')
  const before = await startTestAgent(t, { dataDir, env: { DTMA_TOOL_HOST_IP: '0.0.0.0' } })
  const body = before.deployBody(name, { hostPort, env: ['API_KEY=sk-moved'] })
  const first = await before.client.deployTool({ body })
  if (first.status !== 201) return t.fail(`deploy answered ${first.status}`)
  t.same(await bindingOf(first.body.data.container_id), [`8080/tcp>0.0.0.0:${hostPort}`], 'deployed under the earlier default')
  await before.app.close()

  const after = await startTestAgent(t, { dataDir, env: { DTMA_TOOL_HOST_IP: '127.0.0.1' } })
  const kept = await bindingOf(first.body.data.container_id)
  t.comment(`after the setting changed, before any deploy: expected 8080/tcp>0.0.0.0:${hostPort}; seen ${kept.join(' ')}`)
  t.same(kept, [`8080/tcp>0.0.0.0:${hostPort}`], 'the existing container keeps its binding')

  const again = await after.client.deployTool({ body })
  const seen = again.status === 200 ? await bindingOf(again.body.data.container_id) : []
  t.comment(`the same deploy under 127.0.0.1: expected 200, a new container on 127.0.0.1:${hostPort}; seen ${again.status}, ${seen.join(' ')}`)
  if (again.status !== 200) return t.fail(`the same deploy answered ${again.status}: ${JSON.stringify(again.body)}`)
  t.not(again.body.data.container_id, first.body.data.container_id, 'made again (a binding cannot change in place)')
  t.same(seen, [`8080/tcp>127.0.0.1:${hostPort}`], 'on the new address, the same host port')
  t.match(again.body.warnings, [new RegExp(`ports bound to 127\\.0\\.0\\.1 \\(DTMA_TOOL_HOST_IP\\) instead of 0\\.0\\.0\\.0`)], 'and the answer says so')
  t.equal(after.store.get(name)?.spec.env[0], 'API_KEY=sk-moved', 'env kept')
  t.equal(await docker.getContainer(first.body.data.container_id).inspect().then(() => 'present', () => 'gone'), 'gone', 'the old container is gone')
  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`), 'dtma-test-ok\n', 'the tool answers on it')

  const third = await after.client.deployTool({ body })
  t.equal(third.status === 200 ? third.body.data.container_id : third.status, again.body.data.container_id, 'the same deploy once more is the same container')
  const other = await after.client.deployTool({ body: { ...body, baseConfigOverrideJson: { ...body.baseConfigOverrideJson, Env: ['API_KEY=sk-other'] } } })
  t.comment(`another spec under the name: expected 409; seen ${other.status}`)
  t.equal(other.status, 409, 'another spec under the name is still a conflict')
})
