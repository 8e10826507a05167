// A real stdio MCP server (the official "everything" server, from npm) in
// its container, reached through the agent's /tools/{name}/mcp with the
// official SDK client: deployed with Agentopia's override keys and
// waitForMcp, listed and called over Streamable HTTP with bearer auth; 20
// concurrent sessions on the one attach each get exactly their own answers.
import t from 'tap'
import { startTestAgent, uniqueName } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, textOf } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43100-43149', DTMA_MCP_PING_INTERVAL_S: '2' }

t.test('stdio server: deploy with waitForMcp, list and call tools through the agent', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Everything Stdio')
  agent.deployBody(name)
  const deployed = await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.everythingStdio, 'stdio'), waitForMcp: true } })
  t.equal(deployed.status, 201, JSON.stringify(deployed.body))
  if (deployed.status !== 201) return
  const mcp = deployed.body.data.mcp
  t.match(mcp, { transport: 'stdio', status: 'ready', server_info: { name: 'mcp-servers/everything' } }, 'the 201 carries the ready MCP server')
  t.ok((mcp?.tools_count ?? 0) > 5, `tools counted: ${mcp?.tools_count}`)
  t.match(mcp?.tools_fingerprint, /^[0-9a-f]{64}$/)
  t.ok(mcp?.server_capabilities?.includes('tools'))
  t.equal(mcp?.url_path, `/tools/${encodeURIComponent(name)}/mcp`)

  const client = await mcpClient(agent.baseUrl, name)
  t.teardown(() => client.close())
  t.equal(client.getServerVersion()?.name, 'mcp-servers/everything', 'initialize answered through the agent')
  const { tools } = await client.listTools()
  t.ok(tools.some((tool) => tool.name === 'echo'), 'tools/list through the agent')
  const result = await client.callTool({ name: 'echo', arguments: { message: 'hello through DTMA' } })
  t.match(textOf(result), /hello through DTMA/)
  const sum = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })
  t.match(textOf(sum), /42/)
  await client.ping()

  const capabilities = await agent.client.toolCapabilities({ params: { name } })
  t.equal(capabilities.status, 200)
  if (capabilities.status === 200) {
    t.equal(capabilities.body.data.tools?.length, mcp?.tools_count, 'the capabilities route lists the same tools')
    t.ok((capabilities.body.data.prompts?.length ?? 0) > 0, 'prompts listed (announced)')
    t.ok((capabilities.body.data.resources?.length ?? 0) > 0, 'resources listed (announced)')
  }
})

t.test('20 concurrent sessions on one stdio server each get exactly their own answers', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Mux')
  agent.deployBody(name)
  const deployed = await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.toolsV1, 'stdio'), waitForMcp: true } })
  t.equal(deployed.status, 201)
  const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => mcpClient(agent.baseUrl, name, { clientName: `session-${i}` })))
  t.teardown(() => Promise.all(clients.map((client) => client.close())))
  const wrong: string[] = []
  await Promise.all(
    clients.map(async (client, session) => {
      for (let call = 0; call < 25; call++) {
        const text = `session ${session} call ${call}`
        // The same JSON-RPC ids in every session: the agent must keep them apart.
        const answer = textOf(await client.callTool({ name: 'echo', arguments: { text } }))
        if (answer !== text) wrong.push(`${text} -> ${answer}`)
      }
    })
  )
  t.same(wrong, [], '500 calls, every answer its own')
})
