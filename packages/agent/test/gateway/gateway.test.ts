// The toolbox's one MCP endpoint, /mcp, on a real agent with real servers: a
// stdio and an http server (two instances of the same image besides) are
// listed and called with the SDK v2 client (version negotiation: it lands on
// 2026-07-28) and the SDK v1 client (a 2025 session); every name is valid
// and unique, each instance's prefix is in its view; a session is told
// (list_changed) when an instance comes and goes, and so is a 2026-07-28
// client on its subscriptions/listen stream; a stopped server is left
// out of the listing, not an error, and back once it is ready again.
import t from 'tap'
import { startTestAgent, uniqueName } from '../helpers/agent.ts'
import { gatewayClientV1, gatewayClientV2, type GatewayClient } from '../helpers/gateway.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, textOf } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '45100-45149', DTMA_MCP_START_TIMEOUT_S: '60', DTMA_MCP_PING_INTERVAL_S: '1' }
const VALID = /^[a-zA-Z0-9_-]{1,64}$/

t.test('/mcp aggregates a stdio and an http server for SDK v2 and v1 clients, and follows them', async (t) => {
  const agent = await startTestAgent(t, { env })
  const deploy = async (body: ReturnType<typeof mcpDeployBody>) => {
    agent.deployBody(body.instanceNameOnToolbox)
    const deployed = await agent.client.deployTool({ body: { ...body, waitForMcp: true } })
    t.equal(deployed.status, 201, `${body.instanceNameOnToolbox} deployed and ready`)
    return deployed.status === 201 ? (deployed.body.data.mcp?.gateway_prefix ?? '') : ''
  }
  // Two instances whose names sanitize alike: the second prefix gets a hash.
  const stdioName = uniqueName('Gw Stdio')
  const stdio = mcpDeployBody(stdioName, MCP_IMAGES.toolsV1, 'stdio')
  const twin = mcpDeployBody(stdioName.replace(/ /g, '.'), MCP_IMAGES.toolsV1, 'stdio')
  const http = mcpDeployBody(uniqueName('Gw Http'), MCP_IMAGES.toolsV2, 'http', { mcpPort: 3000, environmentVariables: { TOOLS_HTTP_PORT: '3000' } })
  const [stdioPrefix, twinPrefix, httpPrefix] = [await deploy(stdio), await deploy(twin), await deploy(http)]
  t.comment(`prefixes: ${stdioPrefix} | ${twinPrefix} | ${httpPrefix}`)
  t.ok([stdioPrefix, twinPrefix, httpPrefix].every((prefix) => /^[a-zA-Z0-9-]{1,24}$/.test(prefix)), 'each view shows a prefix without `_`')
  t.equal(new Set([stdioPrefix, twinPrefix, httpPrefix]).size, 3, 'the prefixes differ')
  t.match(twinPrefix, /-[0-9a-f]{6}$/, 'the colliding one carries a short hash')

  const clients: GatewayClient[] = [await gatewayClientV2(agent.baseUrl), await gatewayClientV1(agent.baseUrl)]
  t.teardown(() => Promise.all(clients.map((client) => client.close().catch(() => undefined))))
  t.match(clients[0]?.era, /modern 2026-07-28/, 'the v2 client negotiated 2026-07-28')
  t.match(clients[1]?.era, /2025-/, 'the v1 client speaks a 2025 revision')
  for (const client of clients) {
    const started = performance.now()
    const names = (await client.listTools()).map((tool) => tool.name)
    t.comment(`${client.era}: tools/list of 3 servers in ${(performance.now() - started).toFixed(1)} ms: ${names.join(', ')}`)
    t.same(names.filter((name) => !VALID.test(name)), [], `${client.era}: every name is valid`)
    t.equal(new Set(names).size, names.length, `${client.era}: no name twice`)
    for (const prefix of [stdioPrefix, twinPrefix]) t.ok(names.includes(`${prefix}_echo`) && names.includes(`${prefix}_add`), `${client.era}: ${prefix}'s tools`)
    t.ok(names.includes(`${httpPrefix}_multiply`), `${client.era}: the http server's tools`)
    t.equal(textOf(await client.callTool(`${stdioPrefix}_echo`, { text: `stdio via ${client.era}` })), `stdio via ${client.era}`, `${client.era}: stdio tools/call`)
    t.equal(textOf(await client.callTool(`${httpPrefix}_multiply`, { a: 6, b: 7 })), '42', `${client.era}: http tools/call`)
    t.equal(textOf(await client.callTool(`${twinPrefix}_add`, { a: 2, b: 3 })), '5', `${client.era}: the twin's tools/call`)
  }

  // Figures for the note (printed, not asserted): a warm listing, and a call on /mcp beside the same call on /tools/{name}/mcp.
  const p50 = async (run: () => Promise<unknown>) => {
    const times: number[] = []
    for (let i = 0; i < 30; i++) {
      const started = performance.now()
      await run()
      times.push(performance.now() - started)
    }
    return times.sort((a, b) => a - b)[15]?.toFixed(2)
  }
  const direct = await mcpClient(agent.baseUrl, stdio.instanceNameOnToolbox)
  t.teardown(() => direct.close())
  for (const client of clients) t.comment(`${client.era}: warm tools/list of 3 servers p50 ${await p50(() => client.listTools())} ms`)
  const onGateway = await p50(() => (clients[1] as GatewayClient).callTool(`${stdioPrefix}_echo`, { text: 'x' }))
  const onInstance = await p50(() => direct.callTool({ name: 'echo', arguments: { text: 'x' } }))
  t.comment(`stdio tools/call p50, v1 client: /mcp ${onGateway} ms, /tools/{name}/mcp ${onInstance} ms`)

  // A 2025 session and a 2026-07-28 client (its subscriptions/listen stream) are told when an instance comes and goes.
  let changes = 0
  let modernChanges = 0
  const listener = await gatewayClientV1(agent.baseUrl, { onToolsChanged: () => (changes += 1) })
  const modernListener = await gatewayClientV2(agent.baseUrl, { onToolsChanged: () => (modernChanges += 1) })
  clients.push(listener, modernListener)
  await Promise.all([listener.listTools(), modernListener.listTools()])
  const late = mcpDeployBody(uniqueName('Gw Late'), MCP_IMAGES.toolsV1, 'stdio')
  const latePrefix = await deploy(late)
  t.ok(await waitFor(async () => (changes > 0 ? true : undefined), 20_000), 'list_changed when an instance is deployed')
  t.ok(await waitFor(async () => (modernChanges > 0 ? true : undefined), 20_000), 'and to the 2026-07-28 client')
  t.ok((await listener.listTools()).some((tool) => tool.name === `${latePrefix}_echo`), 'its tools are listed')
  const before = changes
  t.equal((await agent.client.removeTool({ params: { name: late.instanceNameOnToolbox } })).status, 200, 'the late instance removed')
  t.ok(await waitFor(async () => (changes > before ? true : undefined), 20_000), 'list_changed when it is removed')
  t.notOk((await listener.listTools()).some((tool) => tool.name.startsWith(`${latePrefix}_`)), 'its tools are gone')

  // A stopped server is left out, not an error, and back when it is ready.
  t.equal((await agent.client.stopTool({ params: { name: http.instanceNameOnToolbox } })).status, 200, 'the http instance stopped')
  const without = await waitFor(async () => {
    const names = (await listener.listTools()).map((tool) => tool.name)
    return names.some((name) => name.startsWith(`${httpPrefix}_`)) ? undefined : names
  }, 20_000)
  t.ok(without?.includes(`${stdioPrefix}_echo`), 'the listing goes on without the stopped server')
  t.equal((await agent.client.startTool({ params: { name: http.instanceNameOnToolbox } })).status, 200, 'the http instance started again')
  t.ok(await waitFor(async () => ((await listener.listTools()).some((tool) => tool.name === `${httpPrefix}_multiply`) ? true : undefined), 30_000), 'and its tools are back')
  t.equal(textOf(await listener.callTool(`${httpPrefix}_multiply`, { a: 3, b: 3 })), '9', 'and called again')
})
