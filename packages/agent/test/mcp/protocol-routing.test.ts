// What flows from a multiplexed server to its callers goes to the one it
// belongs to: progress notifications of concurrent calls in different
// sessions, and the server's own requests (sampling), each answered by the
// session whose call caused it. And a legacy HTTP+SSE server, multiplexed the
// same way over one SSE connection, answers through the same endpoint.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import t from 'tap'
import { startTestAgent, uniqueName } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, textOf } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43350-43399' }

t.test('progress and sampling reach the session they belong to', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Routing')
  agent.deployBody(name)
  t.equal((await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.everythingStdio, 'stdio'), waitForMcp: true } })).status, 201)

  const sessions = await Promise.all(
    ['alpha', 'beta', 'gamma'].map(async (who) => {
      const client = new Client({ name: who, version: '1' }, { capabilities: { sampling: {} } })
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: `sampled by ${who}` } }))
      return { who, client: await mcpClient(agent.baseUrl, name, { client }) }
    })
  )
  t.teardown(() => Promise.all(sessions.map(({ client }) => client.close())))

  const progress = await Promise.all(
    sessions.map(async ({ client }, index) => {
      const seen: number[] = []
      const steps = 3 + index
      await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps } }, undefined, { onprogress: (update) => seen.push(update.progress) })
      return { steps, seen }
    })
  )
  for (const [index, { steps, seen }] of progress.entries()) t.same(seen, Array.from({ length: steps }, (_, i) => i + 1), `session ${index}: its own ${steps} progress notifications, in order`)

  // Each session's call makes the server ask for a sampling; the session that called answers. (stdio
  // names no request in a server's request: with calls of several sessions in flight at once the
  // agent can only pick the most recent, so the sessions take turns here.)
  for (const { who, client } of sessions) {
    t.match(textOf(await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: `for ${who}` } })), new RegExp(`sampled by ${who}`), `${who} answered its own sampling request`)
  }
})

t.test('a legacy HTTP+SSE server is reached through the same endpoint', async (t) => {
  const agent = await startTestAgent(t, { env })
  const name = uniqueName('Legacy Sse')
  agent.deployBody(name)
  const deployed = await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.everythingSse, 'sse'), waitForMcp: true } })
  t.match(deployed, { status: 201, body: { data: { ports: [], mcp: { transport: 'sse', endpoint: '/sse', status: 'ready' } } } })
  const [one, two] = await Promise.all([mcpClient(agent.baseUrl, name), mcpClient(agent.baseUrl, name)])
  t.teardown(() => Promise.all([one?.close(), two?.close()]))
  const [a, b] = await Promise.all([
    one?.callTool({ name: 'echo', arguments: { message: 'one' } }),
    two?.callTool({ name: 'echo', arguments: { message: 'two' } })
  ])
  t.match(textOf(a), /one/)
  t.match(textOf(b), /two/)
})
