// The acceptance of the MCP bridge, on the real agent process: a stdio
// server and an http one, deployed with Agentopia's real override keys, are
// listed and called through /tools/{name}/mcp with the SDK client and bearer
// auth; the agent is killed with -9 while sessions are open and a call is in
// flight; after its restart new sessions work on both (the stdio server is
// attached again and initialized again, not restarted), and nothing leaks:
// no extra container, no restart, only the new session open.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { docker, freePort, removeInstances, scopeFor, tempDir, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import { mcpServiceOverride } from '../helpers/agentopia-callers.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, textOf } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const ENV = { DTMA_TOOL_PORT_RANGE: '43300-43349', DTMA_MCP_PING_INTERVAL_S: '1' }

/** An MCP service's deploy: its stored override as it is, the catalog's image at the top. */
function agentopiaDeploy(name: string, image: string, mcp: Record<string, unknown>) {
  return { dockerImageUrl: image, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: { ...mcpServiceOverride(), environmentVariables: { API_KEY: 'secret' }, ...mcp } }
}

async function callsWork(t: Test, agent: AgentProcess, name: string, label: string): Promise<void> {
  const client = await mcpClient(agent.baseUrl, name)
  try {
    const { tools } = await client.listTools()
    t.ok(tools.some((tool) => tool.name === 'echo'), `${label}: tools/list`)
    t.match(textOf(await client.callTool({ name: 'echo', arguments: { message: `${label} ok` } })), new RegExp(`${label} ok`), `${label}: tools/call`)
  } finally {
    await client.close()
  }
}

t.test('stdio and http servers through the agent, before and after a kill -9 with open sessions', async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const stdio = uniqueName('Accept Stdio')
  const http = uniqueName('Accept Http')
  t.teardown(() => removeInstances([stdio, http]))

  const first = spawnAgent(dataDir, port, ENV)
  t.teardown(() => first.kill())
  await first.ready()
  const stdioDeployed = await first.client.deployTool({ body: agentopiaDeploy(stdio, MCP_IMAGES.everythingStdio, { mcpTransport: 'stdio' }), query: { waitForMcp: true } })
  t.match(stdioDeployed, { status: 201, body: { data: { mcp: { transport: 'stdio', status: 'ready' } } } }, 'stdio: ready when deploy answers (query flag)')
  const httpDeployed = await first.client.deployTool({ body: { ...agentopiaDeploy(http, MCP_IMAGES.everythingHttp, { mcpTransport: 'http', mcpPort: 3001 }), waitForMcp: true } })
  t.match(httpDeployed, { status: 201, body: { data: { ports: [], mcp: { transport: 'http', port: 3001, status: 'ready' } } } }, 'http: ready, and no port published on the host')

  await callsWork(t, first, stdio, 'stdio before')
  await callsWork(t, first, http, 'http before')
  await t.rejects(mcpClient(first.baseUrl, stdio, { token: 'wrong-token' }), /401|Unauthorized/, 'a wrong token is refused (401: it proves nothing)')

  const openStdio = await mcpClient(first.baseUrl, stdio)
  const openHttp = await mcpClient(first.baseUrl, http)
  // The client would try to resume the stream of the dead agent until its timeout.
  const inFlight = openStdio.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 3, steps: 3 } }, undefined, { timeout: 4000 }).then(
    () => 'answered',
    () => 'failed'
  )
  const containers = async () => (await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scopeFor(dataDir)}`] } })).map((c) => `${c.Id} ${c.State}`).sort()
  const before = await containers()
  const startedAt = async (name: string) => (await docker.listContainers({ filters: { label: [`dtma.instance-name=${name}`] } }))[0]?.Id
  const stdioContainer = (await startedAt(stdio)) ?? ''
  const stdioStart = (await docker.getContainer(stdioContainer).inspect()).State.StartedAt
  await new Promise((resolve) => setTimeout(resolve, 300))
  await first.kill('SIGKILL')
  t.equal(await inFlight, 'failed', 'the call in flight fails with the agent')

  const second = spawnAgent(dataDir, port, ENV)
  t.teardown(() => second.kill())
  await second.ready()
  const ready = await waitFor(async () => {
    const [a, b] = await Promise.all([second.client.getTool({ params: { name: stdio } }), second.client.getTool({ params: { name: http } })])
    return a.status === 200 && b.status === 200 && a.body.data.mcp?.status === 'ready' && b.body.data.mcp?.status === 'ready' ? true : undefined
  }, 20_000)
  t.ok(ready, 'both ready again after the restart')
  await callsWork(t, second, stdio, 'stdio after')
  await callsWork(t, second, http, 'http after')
  await t.rejects(openStdio.listTools(), /404|not found/i, "a stdio session of the killed agent is gone: the caller starts a new one")
  t.ok((await openHttp.listTools()).tools.length > 0, "an http session lives on in the server's own session table")

  t.same(await containers(), before, 'no extra container, none restarted or removed')
  t.equal((await docker.getContainer(stdioContainer).inspect()).State.StartedAt, stdioStart, 'the stdio server was attached again, not restarted')
  const session = await mcpClient(second.baseUrl, stdio)
  const metrics = await second.client.metrics()
  t.match(metrics.status === 200 ? String(metrics.body) : '', /dtma_mcp_bridge_sessions 1\n/, 'the one open session is the new one')
  await session.close()
  await Promise.all([openStdio.close(), openHttp.close()]).catch(() => undefined)
  t.notMatch(first.output() + second.output(), /"level":(50|60)/, 'no error or fatal log line')
})
