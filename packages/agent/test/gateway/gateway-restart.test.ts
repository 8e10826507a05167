// The acceptance of /mcp on the real agent process: a stdio and an http
// server (the reference "everything" servers, with resources, templates and
// prompts), deployed with Agentopia's override keys, are listed and called
// through /mcp with bearer auth by the SDK v2 client (version negotiation)
// and the SDK v1 client, before and after a kill -9 of the agent: the
// prefixes are the same after it (the store keeps them), a 2026-07-28
// client goes on without reconnecting (no session), a 2025 session of the
// killed agent is gone (404) and a new one works.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { freePort, removeInstances, tempDir, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import { mcpServiceOverride } from '../helpers/agentopia-callers.ts'
import { gatewayClientV1, gatewayClientV2, type GatewayClient } from '../helpers/gateway.ts'
import { ensureMcpImages, MCP_IMAGES, textOf } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const ENV = { DTMA_TOOL_PORT_RANGE: '43800-43849', DTMA_MCP_PING_INTERVAL_S: '1' }

function agentopiaDeploy(name: string, image: string, mcp: Record<string, unknown>) {
  return { dockerImageUrl: image, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: { ...mcpServiceOverride(), ...mcp } }
}

async function prefixesOf(agent: AgentProcess, names: string[]): Promise<string[]> {
  return Promise.all(names.map(async (name) => {
    const got = await agent.client.getTool({ params: { name } })
    return got.status === 200 ? (got.body.data.mcp?.gateway_prefix ?? '') : ''
  }))
}

/** Lists and calls the tools of both servers, reads a resource and gets a prompt of each, through /mcp. */
async function works(t: Test, client: GatewayClient, prefixes: string[], label: string): Promise<void> {
  const names = (await client.listTools()).map((tool) => tool.name)
  for (const prefix of prefixes) {
    t.ok(names.includes(`${prefix}_echo`), `${label} ${client.era}: ${prefix}_echo listed`)
    t.match(textOf(await client.callTool(`${prefix}_echo`, { message: `${label} ${prefix}` })), `${label} ${prefix}`, `${label} ${client.era}: ${prefix}_echo called`)
  }
  const { resources } = await client.browse.listResources()
  const { resourceTemplates } = await client.browse.listResourceTemplates()
  const { prompts } = await client.browse.listPrompts()
  t.comment(`${label} ${client.era}: ${names.length} tools, ${resources.length} resources, ${resourceTemplates.length} templates, ${prompts.length} prompts`)
  for (const prefix of prefixes) {
    const resource = resources.find((one) => one.name.startsWith(`${prefix}_`))
    const read = resource === undefined ? undefined : await client.browse.readResource({ uri: resource.uri })
    t.ok(read !== undefined && read.contents.length > 0, `${label} ${client.era}: a resource of ${prefix} read (${resource?.uri})`)
    t.ok(resourceTemplates.some((one) => one.name.startsWith(`${prefix}_`)), `${label} ${client.era}: its templates listed`)
    const prompt = prompts.find((one) => one.name.startsWith(`${prefix}_`) && !(one.arguments ?? []).some((argument) => argument.required))
    const got = prompt === undefined ? undefined : await client.browse.getPrompt({ name: prompt.name })
    t.ok(got !== undefined && got.messages.length > 0, `${label} ${client.era}: a prompt of ${prefix} got (${prompt?.name})`)
  }
}

t.test('/mcp before and after a kill -9 of the agent, SDK v2 and v1 clients', async (t) => {
  const dataDir = tempDir(t)
  const port = await freePort()
  const stdio = uniqueName('Gw Accept Stdio')
  const http = uniqueName('Gw Accept Http')
  t.teardown(() => removeInstances([stdio, http]))

  const first = spawnAgent(dataDir, port, ENV)
  t.teardown(() => first.kill())
  await first.ready()
  t.equal((await first.client.deployTool({ body: { ...agentopiaDeploy(stdio, MCP_IMAGES.everythingStdio, { mcpTransport: 'stdio' }), waitForMcp: true } })).status, 201, 'stdio server ready')
  t.equal((await first.client.deployTool({ body: { ...agentopiaDeploy(http, MCP_IMAGES.everythingHttp, { mcpTransport: 'http', mcpPort: 3001 }), waitForMcp: true } })).status, 201, 'http server ready')
  const prefixes = await prefixesOf(first, [stdio, http])

  const modern = await gatewayClientV2(first.baseUrl)
  const legacy = await gatewayClientV1(first.baseUrl)
  t.teardown(() => Promise.all([modern.close(), legacy.close()]).catch(() => undefined))
  await works(t, modern, prefixes, 'before')
  await works(t, legacy, prefixes, 'before')

  await first.kill('SIGKILL')
  const second = spawnAgent(dataDir, port, ENV)
  t.teardown(() => second.kill())
  await second.ready()
  const ready = await waitFor(async () => {
    const views = await Promise.all([stdio, http].map((name) => second.client.getTool({ params: { name } })))
    return views.every((view) => view.status === 200 && view.body.data.mcp?.status === 'ready') ? true : undefined
  }, 30_000)
  t.ok(ready, 'both ready again after the restart')
  t.same(await prefixesOf(second, [stdio, http]), prefixes, 'the same prefixes after the restart')
  await works(t, modern, prefixes, 'after')
  await t.rejects(legacy.listTools(), /404|not found/i, 'a 2025 session of the killed agent is gone')
  const renewed = await gatewayClientV1(second.baseUrl)
  t.teardown(() => renewed.close())
  await works(t, renewed, prefixes, 'after')
  t.notMatch(first.output() + second.output(), /"level":(50|60)/, 'no error or fatal log line')
})
