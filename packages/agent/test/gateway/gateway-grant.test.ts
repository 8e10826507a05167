// A token's instances and tools on the aggregated endpoint, tried as an AI
// agent holding one would: a token for one instance and one tool, with the
// SDK v2 client (2026-07-28) and the v1 client (a 2025 session), must see
// exactly that tool and call nothing else: another tool of its instance, a
// tool of another instance and a name no server has are refused with the
// per-instance endpoint's JSON-RPC sentence and code, whether or not the
// tool exists (the admin token sees the ones that do). Then the other ways in: no token, a token without the
// mcp scope, a session used with another grant's token. Each case is printed
// as `credential | method | expected | seen`.
import { signToolboxToken, type Scope } from '@dtma/contract'
import t, { type Test } from 'tap'
import { startTestAgent, TEST_AUDIENCE, TOKEN, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { gatewayClientV1, gatewayClientV2, gatewayUrl } from '../helpers/gateway.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody, textOf } from '../helpers/mcp.ts'
import { rawMcp, rawSession } from '../helpers/raw-mcp.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43750-43799', DTMA_MCP_START_TIMEOUT_S: '60' }

function token(scopes: Scope[], instances?: string[], tools?: Record<string, string[]>, subject = 'agent-under-test'): Promise<string> {
  return signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes, lifetimeSeconds: 600, subject, ...(instances && { instances }), ...(tools && { tools }) })
}

function row(t: Test, credential: string, method: string, expected: string, seen: string): void {
  t.comment(`${credential} | ${method} | ${expected} | ${seen}`)
}

async function refusal(call: Promise<unknown>): Promise<{ code?: number; message?: string; data?: { code?: string } } | undefined> {
  return call.then(
    () => undefined,
    (error: { code?: number; message?: string; data?: { code?: string } }) => ({ code: error.code, message: error.message, data: error.data })
  )
}

t.test('a token for one instance and one tool sees and calls only that on /mcp', async (t) => {
  const agent = await startTestAgent(t, { env })
  const bodies = [mcpDeployBody(uniqueName('Gw Grant Stdio'), MCP_IMAGES.toolsV1, 'stdio'), mcpDeployBody(uniqueName('Gw Grant Http'), MCP_IMAGES.toolsV2, 'http', { mcpPort: 3000, environmentVariables: { TOOLS_HTTP_PORT: '3000' } })]
  const prefixes: string[] = []
  for (const body of bodies) {
    agent.deployBody(body.instanceNameOnToolbox)
    const deployed = await agent.client.deployTool({ body: { ...body, waitForMcp: true } })
    t.equal(deployed.status, 201, `${body.instanceNameOnToolbox} ready`)
    prefixes.push(deployed.status === 201 ? (deployed.body.data.mcp?.gateway_prefix ?? '') : '')
  }
  const [stdioBody, httpBody] = bodies as [(typeof bodies)[0], (typeof bodies)[0]]
  const [stdio, http] = prefixes as [string, string]
  const scoped = await token(['mcp'], [stdioBody.accountToolInstanceId], { [stdioBody.accountToolInstanceId]: ['echo'] })
  const credential = 'mcp, stdio instance, tool echo'

  for (const open of [gatewayClientV2, gatewayClientV1]) {
    const client = await open(agent.baseUrl, { token: scoped })
    t.teardown(() => client.close())
    const listed = (await client.listTools()).map((tool) => tool.name)
    row(t, credential, `${client.era} tools/list`, `${stdio}_echo`, listed.join(','))
    t.same(listed, [`${stdio}_echo`], `${client.era}: exactly the granted tool`)
    t.equal(textOf(await client.callTool(`${stdio}_echo`, { text: 'granted' })), 'granted', `${client.era}: the granted tool is called`)
    for (const [name, what] of [
      [`${stdio}_add`, 'another tool of its instance'],
      [`${http}_multiply`, 'a tool of another instance'],
      [`${stdio}_no-such-tool`, 'a name no server has'],
      ['no-prefix', 'a name of no prefix']
    ] as const) {
      const refused = await refusal(client.callTool(name, { a: 1, b: 2 }))
      row(t, credential, `${client.era} tools/call ${what}`, `-32602 tool "${name}" is not granted to this token`, `${refused?.code} ${refused?.message}`)
      t.equal(refused?.code, -32602, `${client.era}: ${what} is refused with a JSON-RPC error`)
      t.match(refused?.message, `tool "${name}" is not granted to this token`, `${client.era}: with the per-instance endpoint's sentence`)
      t.equal(refused?.data?.code, 'DTMA_TOOL_NOT_GRANTED', `${client.era}: and its code`)
    }
  }

  // The tools refused exist: a token learns nothing from the sentence.
  const admin = await gatewayClientV2(agent.baseUrl)
  t.teardown(() => admin.close())
  const every = (await admin.listTools()).map((tool) => tool.name)
  t.ok(every.includes(`${stdio}_add`) && every.includes(`${http}_multiply`), 'the admin token sees every tool of both servers')

  const url = gatewayUrl(agent.baseUrl)
  const none = await rawMcp(url, 'POST', {}, { jsonrpc: '2.0', id: 1, method: 'tools/list' })
  row(t, 'none', 'POST tools/list', '401', String(none.status))
  t.equal(none.status, 401, 'no token: 401')
  const readOnly = await rawMcp(url, 'POST', { authorization: `Bearer ${await token(['tools:read'])}` }, { jsonrpc: '2.0', id: 1, method: 'tools/list' })
  row(t, 'tools:read', 'POST tools/list', '403 missing scope', `${readOnly.status}`)
  t.equal(readOnly.status, 403, 'a token without the mcp scope: 403')
  const session = await rawSession(url, { authorization: `Bearer ${scoped}` })
  const list = { jsonrpc: '2.0', id: 'l-1', method: 'tools/list' }
  const other = await rawMcp(url, 'POST', { ...session, authorization: `Bearer ${TOKEN}` }, list)
  const otherCode = (other.messages[0]?.error as { data?: { code?: string } } | undefined)?.data?.code
  row(t, 'all scopes, every instance', 'tools/list on the scoped token\'s 2025 session', '403 DTMA_MCP_SESSION_OF_OTHER_GRANT', `${other.status} ${otherCode}`)
  t.equal(other.status, 403, 'a 2025 session opened with one grant is refused to a token of another')
  const own = await rawMcp(url, 'POST', session, list)
  t.same((own.messages[0]?.result as { tools?: Array<{ name: string }> } | undefined)?.tools?.map((tool) => tool.name), [`${stdio}_echo`], 'and serves its own token')
  const foreignOrigin = await rawMcp(url, 'POST', { authorization: `Bearer ${TOKEN}`, origin: 'https://evil.example' }, list)
  row(t, 'all scopes', 'POST with Origin https://evil.example', '403', String(foreignOrigin.status))
  t.equal(foreignOrigin.status, 403, 'a foreign Origin is refused as on /tools/{name}/mcp')
})
