// Protocol health, for real: the server process inside a running container
// is killed (the container keeps running, as a crashed npx server would
// leave it). A running container is not a ready server: it turns
// unresponsive after the failed pings, its container is restarted, counted,
// and it is ready again; a client then works again through the agent.
import t from 'tap'
import { docker, startTestAgent, uniqueName } from '../helpers/agent.ts'
import { ensureMcpImages, execIn, MCP_IMAGES, mcpClient, mcpDeployBody, textOf } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const killServerProcess = (containerId: string) => execIn(containerId, 'kill -9 $(pidof node)')

t.test('a server that stops answering in a running container is unresponsive, restarted and ready again', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '43250-43299', DTMA_MCP_PING_INTERVAL_S: '1', DTMA_MCP_PING_FAILURES: '2' } })
  const name = uniqueName('Healed')
  agent.deployBody(name)
  const deployed = await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.everythingStdio, 'stdio'), waitForMcp: true } })
  if (deployed.status !== 201) throw new Error(`deploy answered ${deployed.status}`)
  const containerId = deployed.body.data.container_id
  const startedAt = (await docker.getContainer(containerId).inspect()).State.StartedAt

  const statuses: string[] = []
  const stop = agent.instances.onChange(({ instanceName, view }) => {
    const status = view?.mcp?.health.status
    if (instanceName === name && status !== undefined && statuses.at(-1) !== status) statuses.push(status)
  })
  t.teardown(stop)

  await killServerProcess(containerId)
  t.equal((await docker.getContainer(containerId).inspect()).State.Status, 'running', 'the container keeps running without its server')
  const unresponsive = await waitFor(() => {
    const mcp = agent.instances.get(name).mcp
    return mcp?.health.status === 'unresponsive' ? mcp.health : undefined
  }, 15_000)
  t.ok(unresponsive, 'unresponsive, never ready, while nothing answers')
  t.match(unresponsive?.lastError, /no answer to 2 pings in a row|restarting its container/)
  t.equal(agent.instances.get(name).status, 'running', 'while Docker says the container runs')

  const ready = await waitFor(() => (agent.instances.get(name).mcp?.health.status === 'ready' ? true : undefined), 30_000)
  t.ok(ready, 'self-healed: ready again')
  const after = await docker.getContainer(containerId).inspect()
  t.not(after.State.StartedAt, startedAt, 'by a restart of its container')
  t.equal(after.Id, containerId, 'the same container')
  t.match(statuses.join(' > '), /unresponsive.*(starting.*)?ready$/, `statuses went ${statuses.join(' > ')}`)

  const metrics = await agent.client.metrics()
  t.match(metrics.status === 200 ? String(metrics.body) : '', /dtma_mcp_restarts_total\{outcome="ok"\} 1/, 'the restart is counted')
  t.ok(agent.logs.some((line) => line.includes('MCP server unresponsive: restarting its container')), 'and logged')

  const client = await mcpClient(agent.baseUrl, name)
  t.teardown(() => client.close())
  t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: 'back' } })), /back/, 'and it answers through the agent again')
})
