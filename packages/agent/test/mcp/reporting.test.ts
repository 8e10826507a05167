// An MCP server's state reaches everything that reports an instance, from
// one real stdio server: /tools/status, /status, the SSE `mcp` event, the
// heartbeat's tool statuses, the dtma_container_registry row (through the
// real registry edge function and the PostgREST stand-in into a real
// PostgreSQL with the migrations) and
// Prometheus. Deployed again from an image v2 with one more tool, the
// fingerprint changes, and the event and the registry row say so. The
// tool's environment value appears in none of them.
import { createServer } from 'node:http'
import { randomUUID } from 'node:crypto'
import { readServerSentEvents, type HeartbeatBody, type McpEvent } from '@dtma/contract'
import t from 'tap'
import { freePort, startTestAgent, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody } from '../helpers/mcp.ts'
import { registryBackend, setToolboxToken } from '../helpers/edge-function.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const SECRET = 'mcp-test-secret-value'

async function heartbeatReceiver(t: { teardown(fn: () => unknown): void }): Promise<{ beats: HeartbeatBody[]; baseUrl: string }> {
  const beats: HeartbeatBody[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (request.headers.authorization === `Bearer ${VM_TOKEN}`) beats.push(JSON.parse(Buffer.concat(chunks).toString()) as HeartbeatBody)
      response.writeHead(204).end()
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { beats, baseUrl: `http://127.0.0.1:${port}` }
}

t.test('status, events, heartbeat, registry and metrics carry the MCP state; v2 is a new fingerprint', async (t) => {
  const db = await createTestDatabase(t)
  const instanceId = randomUUID()
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [instanceId])
  await setToolboxToken(db.pool, environmentId, VM_TOKEN)
  const { fn: registry } = await registryBackend(t, db.pool)
  const backend = await heartbeatReceiver(t)
  const agent = await startTestAgent(t, {
    env: {
      DTMA_TOOL_PORT_RANGE: '43200-43249',
      DTMA_MCP_PING_INTERVAL_S: '1',
      SUPABASE_URL: registry.url,
      ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId,
      AGENTOPIA_API_BASE_URL: backend.baseUrl,
      DTMA_HEARTBEAT_INTERVAL_S: '1'
    }
  })
  const name = uniqueName('Reported')
  agent.deployBody(name)

  const events: McpEvent[] = []
  let eventText = ''
  const aborted = new AbortController()
  t.teardown(() => aborted.abort())
  const stream = await agent.client.events({ query: { name }, signal: aborted.signal })
  if (stream.status !== 200) throw new Error('no event stream')
  const reading = (async () => {
    for await (const event of readServerSentEvents(stream.response)) {
      eventText += event.data
      if (event.event === 'mcp') events.push(JSON.parse(event.data) as McpEvent)
    }
  })().catch(() => undefined)

  const body = { ...mcpDeployBody(name, MCP_IMAGES.toolsV1, 'stdio'), accountToolInstanceId: instanceId, waitForMcp: true }
  const deployed = await agent.client.deployTool({ body })
  t.equal(deployed.status, 201)
  const first = deployed.status === 201 ? deployed.body.data.mcp : null
  t.match(first, { status: 'ready', tools_count: 2, server_info: { name: 'dtma-test-tools', version: '1.0.0' } })
  const v1 = first?.tools_fingerprint ?? ''

  const readyEvent = await waitFor(() => events.find((event) => event.mcp?.status === 'ready' && event.mcp.tools_fingerprint === v1))
  t.ok(readyEvent, 'an mcp event says the server is ready, with its fingerprint')
  t.ok(events.some((event) => event.mcp?.status === 'starting'), 'and one said it was starting')

  const listed = await agent.client.listToolStatus()
  t.match(listed.status === 200 && listed.body.data.find((item) => item.instance_name_on_toolbox === name)?.mcp, { status: 'ready', tools_fingerprint: v1, transport: 'stdio' }, '/tools/status')
  const status = await agent.client.status()
  t.match(status.body.tool_instances?.find((item) => item.instance_name_on_toolbox === name)?.mcp, { status: 'ready', tools_count: 2 }, '/status')
  const pinged = await waitFor(async () => {
    const view = await agent.client.getTool({ params: { name } })
    return view.status === 200 && view.body.data.mcp?.last_ping_ms !== null ? view.body.data.mcp : undefined
  }, 5000)
  t.ok((pinged?.last_ping_ms ?? -1) >= 0, `pinged: ${pinged?.last_ping_ms} ms`)

  const beat = await waitFor(() => backend.beats.flatMap((b) => b.tool_statuses).find((s) => s.account_tool_instance_id === instanceId && s.mcp?.status === 'ready'), 10_000)
  t.match(beat?.mcp, { status: 'ready', tools_fingerprint: v1, url_path: `/tools/${encodeURIComponent(name)}/mcp` }, 'the heartbeat carries it')

  const rowOf = async () => (await db.pool.query('select * from dtma_container_registry where account_tool_instance_id = $1', [instanceId])).rows[0]
  const row = await waitFor(async () => {
    const found = await rowOf()
    return found?.mcp_tools_fingerprint === v1 ? found : undefined
  })
  t.match(row, {
    mcp_status: 'ready',
    mcp_transport: 'stdio',
    mcp_endpoint_path: `/tools/${encodeURIComponent(name)}/mcp`,
    mcp_server_info: { name: 'dtma-test-tools' },
    mcp_tools_fingerprint: v1
  }, 'the registry row mirrors it')
  t.same((row?.mcp_tools as Array<{ name: string }>).map((tool) => tool.name).sort(), ['add', 'echo'], 'with the tools as listed')
  t.ok(row?.mcp_checked_at instanceof Date)

  const metrics = await agent.client.metrics()
  const text = metrics.status === 200 ? String(metrics.body) : ''
  t.match(text, /dtma_mcp_servers\{status="ready"\} 1/)
  t.match(text, /dtma_mcp_ping_seconds_count\{outcome="ok"\} [1-9]/)
  t.match(text, /dtma_mcp_bridge_messages_total\{direction="to-server"\} [1-9]/)

  // The same instance again from an image with one more tool: a new fingerprint.
  t.equal((await agent.client.removeTool({ params: { name } })).status, 200)
  const again = await agent.client.deployTool({ body: { ...body, dockerImageUrl: MCP_IMAGES.toolsV2, baseConfigOverrideJson: { ...body.baseConfigOverrideJson, dockerImage: MCP_IMAGES.toolsV2 } } })
  t.equal(again.status, 201)
  const v2 = again.status === 201 ? again.body.data.mcp?.tools_fingerprint : undefined
  t.match(again.status === 201 && again.body.data.mcp, { status: 'ready', tools_count: 3 })
  t.not(v2, v1, 'another tool: another fingerprint')
  t.ok(await waitFor(() => events.find((event) => event.mcp?.tools_fingerprint === v2)), 'an mcp event with the new fingerprint')
  const updated = await waitFor(async () => {
    const found = await rowOf()
    return found?.mcp_tools_fingerprint === v2 ? found : undefined
  })
  t.ok((updated?.mcp_tools as Array<{ name: string }> | undefined)?.some((tool) => tool.name === 'multiply'), 'the registry row has the new tool')

  aborted.abort()
  await reading
  t.notMatch(eventText, SECRET, 'no env value in the events')
  t.notMatch(JSON.stringify(await rowOf()), SECRET, 'nor in the registry row')
  t.notMatch(JSON.stringify(backend.beats), SECRET, 'nor in a heartbeat')
  t.notOk(agent.logs.some((line) => line.includes(SECRET)), 'nor in the logs')
})
