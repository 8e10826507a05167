// The whole lifecycle of a tool whose name has spaces, through the typed
// client, against the real Docker engine.
import t from 'tap'
import { dockerState, docker, fetchText, freePort, startTestAgent, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'

t.test('deploy, repeat, get, list, stop, start, remove through the typed client', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Context7')
  const hostPort = await freePort()
  const body = agent.deployBody(name, { hostPort, env: ['API_KEY=not-a-real-key', 'MODE=test'] })

  const deployed = await agent.client.deployTool({ body })
  t.equal(deployed.status, 201)
  if (deployed.status !== 201) return
  const { data } = deployed.body
  t.equal(data.instance_name_on_toolbox, name, 'the API speaks the caller name')
  t.equal(data.account_tool_instance_id, body.accountToolInstanceId)
  t.equal(data.image, TEST_IMAGE)
  t.equal(data.state, 'running')
  t.equal(data.image_source, 'local')
  t.same(data.ports, [{ container_port: 8080, protocol: 'tcp', host_ip: '127.0.0.1', host_port: hostPort, ip: '127.0.0.1', private_port: 8080, public_port: hostPort, type: 'tcp' }])
  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`), 'dtma-test-ok\n', 'the container really serves on its host port')

  const inspected = await docker.getContainer(data.container_id).inspect()
  t.match(inspected.Name, /^\/dtma-context7-mcp-server-\d+[0-9a-f]+-[0-9a-f]{10}$/, 'Docker name is a slug plus a short hash')
  t.equal(inspected.Config.Labels['dtma.managed'], 'true')
  t.equal(inspected.Config.Labels['dtma.instance-name'], name)
  t.equal(inspected.Config.Labels['dtma.account-tool-instance-id'], body.accountToolInstanceId)
  t.equal(inspected.HostConfig.RestartPolicy?.Name, 'unless-stopped')
  t.equal(inspected.HostConfig.Privileged, false)
  t.same(inspected.HostConfig.SecurityOpt, ['no-new-privileges:true'])
  t.equal(inspected.HostConfig.Memory, 512 * 1024 * 1024)
  t.equal(inspected.HostConfig.PidsLimit, 256)
  t.same(inspected.HostConfig.Binds ?? [], [], 'no host mounts')
  t.ok(inspected.Config.Env.includes('API_KEY=not-a-real-key'), 'env reaches the container')
  t.notOk(JSON.stringify(inspected.Config.Labels).includes('not-a-real-key'), 'env values never reach labels')

  const again = await agent.client.deployTool({ body })
  t.equal(again.status, 200, 'the same deploy again is a 200')
  t.equal(again.status === 200 && again.body.data.container_id, data.container_id, 'with the same container')

  const one = await agent.client.getTool({ params: { name } })
  t.equal(one.status, 200)
  t.match(one.body, { success: true, data: { instance_name_on_toolbox: name, status: 'running', desired_state: 'running', docker_status: 'running' } })

  const list = await agent.client.listToolStatus()
  t.equal(list.status, 200)
  const listed = list.status === 200 ? list.body.data.find((item) => item.instance_name_on_toolbox === name) : undefined
  t.match(listed, { container_id: data.container_id, status: 'running', docker_status: 'running', image: TEST_IMAGE })
  t.ok(Number.isInteger(listed?.created) && (listed?.created ?? 0) > 1_600_000_000, 'created is unix seconds')

  const stopped = await agent.client.stopTool({ params: { name } })
  t.same(stopped, { status: 200, body: { success: true, message: `Tool instance '${name}' stopped.`, data: { state: 'stopped' } } })
  t.equal(await dockerState(data.container_id), 'exited', 'the container really stopped')
  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`, 300), undefined, 'and its port no longer answers')
  const stoppedAgain = await agent.client.stopTool({ params: { name } })
  t.match(stoppedAgain, { status: 200, body: { message: `Tool instance '${name}' is already stopped.`, data: { state: 'stopped' } } })
  const afterStop = await agent.client.getTool({ params: { name } })
  t.match(afterStop.body, { data: { status: 'stopped', desired_state: 'stopped', docker_status: 'exited' } }, 'a stopped tool is stopped, not error')

  const started = await agent.client.startTool({ params: { name } })
  t.same(started, { status: 200, body: { success: true, message: `Tool instance '${name}' started.`, data: { state: 'running' } } })
  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`), 'dtma-test-ok\n')
  const startedAgain = await agent.client.startTool({ params: { name } })
  t.match(startedAgain, { status: 200, body: { message: `Tool instance '${name}' is already running.` } })

  const removed = await agent.client.removeTool({ params: { name } })
  t.same(removed, { status: 200, body: { success: true, message: `Tool instance '${name}' removed successfully.` } })
  t.equal(await dockerState(data.container_id), undefined, 'the container is gone')
  t.equal(agent.store.get(name), undefined, 'and so is its store entry')

  const notFoundMessage = `Tool instance '${name}' not found or not managed by this DTMA.`
  for (const call of [
    () => agent.client.removeTool({ params: { name } }),
    () => agent.client.startTool({ params: { name } }),
    () => agent.client.stopTool({ params: { name } }),
    () => agent.client.getTool({ params: { name } })
  ]) {
    t.same(await call(), { status: 404, body: { success: false, error: notFoundMessage, code: 'DTMA_NOT_FOUND' } })
  }
})

t.test('with self-heal off, a tool that exits while it should run is reported error, with the Docker state beside it', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_SELF_HEAL: 'false' } })
  const name = uniqueName('Crashing')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name) })
  t.equal(deployed.status, 201)
  if (deployed.status !== 201) return
  // Stop it behind the agent's back: desired is still running.
  await docker.getContainer(deployed.body.data.container_id).stop({ t: 1 })
  await agent.instances.whenReady()
  // The stop event reaches the index asynchronously.
  let one = await agent.client.getTool({ params: { name } })
  for (let attempt = 0; attempt < 50 && one.status === 200 && one.body.data.docker_status !== 'exited'; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    one = await agent.client.getTool({ params: { name } })
  }
  t.match(one.body, { data: { status: 'error', desired_state: 'running', docker_status: 'exited' } })
})
