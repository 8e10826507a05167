// Per-agent MCP access, as an AI agent holding a token would try it: a token
// for one instance and two tools, with the official SDK client, on a stdio,
// an sse and an http server. It must see exactly those two tools and call
// nothing else, and a refused call must never reach the server: on the
// shared stdio and sse servers a refused toggle leaves the toggle where it
// was; the http server marks every answer of its own with Mcp-Seen, and
// DTMA's refusal has none. Then the other ways in: a token of another
// instance, a token without the mcp scope, a session used with a token of
// other tools, a token that expires while its session is open. Each case is
// printed as `credential | route/method | expected | seen`.
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { signToolboxToken, type Scope } from '@dtma/contract'
import t, { type Test } from 'tap'
import { startTestAgent, TEST_AUDIENCE, TOKEN, uniqueName, VM_TOKEN, type TestAgent } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, mcpUrl, textOf } from '../helpers/mcp.ts'
import { rawMcp, rawSession } from '../helpers/raw-mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

// No clock skew: a token that expires is refused the second it does.
const env = { DTMA_TOOL_PORT_RANGE: '43600-43649', DTMA_MCP_START_TIMEOUT_S: '60', DTMA_TOKEN_CLOCK_SKEW_S: '0' }

interface Target {
  label: 'stdio' | 'sse' | 'http'
  name: string
  id: string
  /** The two tools the agent's token names, with arguments to call them. */
  granted: Record<string, Record<string, unknown>>
}

interface TokenOptions {
  scopes?: Scope[]
  instances?: string[]
  tools?: Record<string, string[]>
  lifetimeSeconds?: number
  subject?: string
}

function token(options: TokenOptions): Promise<string> {
  return signToolboxToken(VM_TOKEN, {
    audience: TEST_AUDIENCE,
    scopes: options.scopes ?? ['mcp'],
    lifetimeSeconds: options.lifetimeSeconds ?? 600,
    ...(options.instances !== undefined && { instances: options.instances }),
    ...(options.tools !== undefined && { tools: options.tools }),
    subject: options.subject ?? 'agent-under-test'
  })
}

/** The token of the AI agent under test: one instance, its two tools. */
function agentToken(target: Target): Promise<string> {
  return token({ instances: [target.id], tools: { [target.id]: Object.keys(target.granted) } })
}

function row(t: Test, credential: string, route: string, expected: string, seen: string): void {
  t.comment(`${credential} | ${route} | ${expected} | ${seen}`)
}

async function deployTargets(t: Test, agent: TestAgent): Promise<Target[]> {
  const bodies = {
    stdio: mcpDeployBody(uniqueName('Grant Stdio'), MCP_IMAGES.everythingStdio, 'stdio'),
    sse: mcpDeployBody(uniqueName('Grant Sse'), MCP_IMAGES.everythingSse, 'sse'),
    http: mcpDeployBody(uniqueName('Grant Http'), MCP_IMAGES.toolsV2, 'http', { mcpPort: 3000, environmentVariables: { TOOLS_HTTP_PORT: '3000' } })
  }
  const everything = { echo: { message: 'granted' }, 'get-sum': { a: 2, b: 40 } }
  const granted = { stdio: everything, sse: everything, http: { echo: { text: 'granted' }, add: { a: 2, b: 40 } } }
  return Promise.all(
    (['stdio', 'sse', 'http'] as const).map(async (label) => {
      const body = bodies[label]
      agent.deployBody(body.instanceNameOnToolbox)
      const deployed = await agent.client.deployTool({ body: { ...body, waitForMcp: true } })
      t.equal(deployed.status, 201, `${label} server deployed and ready`)
      return { label, name: body.instanceNameOnToolbox, id: body.accountToolInstanceId, granted: granted[label] }
    })
  )
}

async function refusalOf(call: Promise<unknown>): Promise<{ code?: number; message?: string; data?: unknown } | undefined> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error
  )
  return outcome instanceof McpError ? { code: outcome.code, message: outcome.message, data: outcome.data } : outcome === undefined ? undefined : { message: String(outcome) }
}

t.test('a token for one instance and two tools sees exactly those and calls nothing else (stdio, sse, http)', async (t) => {
  const agent = await startTestAgent(t, { env })
  const targets = await deployTargets(t, agent)
  for (const target of targets) {
    const names = Object.keys(target.granted).sort()
    const admin = await mcpClient(agent.baseUrl, target.name)
    const scoped = await mcpClient(agent.baseUrl, target.name, { token: await agentToken(target) })
    t.teardown(() => Promise.all([admin.close(), scoped.close()]))
    const credential = `mcp, ${target.label} instance, tools ${names.join('+')}`

    const every = (await admin.listTools()).tools.map((tool) => tool.name).sort()
    const listed = (await scoped.listTools()).tools.map((tool) => tool.name).sort()
    row(t, credential, `${target.label} tools/list`, names.join(','), listed.join(','))
    t.same(listed, names, `${target.label}: tools/list shows exactly the two granted tools (the server has ${every.length})`)
    t.ok(every.length > names.length, `${target.label}: the admin token sees them all: ${every.join(',')}`)

    for (const [name, args] of Object.entries(target.granted)) {
      const text = textOf(await scoped.callTool({ name, arguments: args }))
      row(t, credential, `${target.label} tools/call ${name}`, 'the tool answers', JSON.stringify(text))
      t.ok(text !== undefined && text !== '', `${target.label}: ${name} is called`)
    }
    const others = every.filter((name) => !names.includes(name))
    let refused = 0
    for (const name of [...others, 'no-such-tool']) {
      const refusal = await refusalOf(scoped.callTool({ name, arguments: {} }))
      const ok = refusal?.code === -32602 && /is not granted to this token/.test(refusal.message ?? '') && (refusal.data as { code?: string } | undefined)?.code === 'DTMA_TOOL_NOT_GRANTED'
      if (ok) refused += 1
      else t.fail(`${target.label}: tools/call ${name} was not refused as not granted: ${JSON.stringify(refusal)}`)
    }
    row(t, credential, `${target.label} tools/call of the ${others.length + 1} others`, `-32602 DTMA_TOOL_NOT_GRANTED each`, `${refused} refused so`)
    t.equal(refused, others.length + 1, `${target.label}: every other tool (and one the server does not have) is refused alike`)

    const capabilities = await fetch(`${agent.baseUrl}/tools/${encodeURIComponent(target.name)}/capabilities`, { headers: { authorization: `Bearer ${await agentToken(target)}` } })
    const data = ((await capabilities.json()) as { data: { tools: Array<{ name: string }> } }).data
    const shown = data.tools.map((tool) => tool.name).sort()
    row(t, credential, `${target.label} GET capabilities`, `200 ${names.join(',')}`, `${capabilities.status} ${shown.join(',')}`)
    t.same(shown, names, `${target.label}: the capabilities route lists the two`)
  }
})

t.test('a refused call never reaches the server', async (t) => {
  const agent = await startTestAgent(t, { env })
  const targets = await deployTargets(t, agent)
  for (const target of targets.filter((one) => one.label !== 'http')) {
    // One server session behind the multiplexer: its logging toggle is shared by every caller.
    const admin = await mcpClient(agent.baseUrl, target.name)
    const scoped = await mcpClient(agent.baseUrl, target.name, { token: await agentToken(target) })
    t.teardown(() => Promise.all([admin.close(), scoped.close()]))
    const refusal = await refusalOf(scoped.callTool({ name: 'toggle-simulated-logging', arguments: {} }))
    t.match(refusal, { code: -32602, data: { code: 'DTMA_TOOL_NOT_GRANTED' } }, `${target.label}: the toggle is refused`)
    const first = textOf(await admin.callTool({ name: 'toggle-simulated-logging', arguments: {} })) ?? ''
    const second = textOf(await admin.callTool({ name: 'toggle-simulated-logging', arguments: {} })) ?? ''
    row(t, 'mcp, two tools', `${target.label} tools/call toggle-simulated-logging, then the admin's toggle twice`, 'refused; Started, Stopped', `${refusal?.code}; ${first.split(' ')[0]}, ${second.split(' ')[0]}`)
    t.match(first, /^Started/, `${target.label}: the admin's toggle starts the logging: the refused one never toggled it`)
    t.match(second, /^Stopped/, `${target.label}: and the admin's second stops it (the toggle does toggle)`)
  }

  const http = targets.find((one) => one.label === 'http') as Target
  const url = mcpUrl(agent.baseUrl, http.name)
  const session = await rawSession(url, { authorization: `Bearer ${await agentToken(http)}` })
  const call = (id: string, name: string) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { a: 6, b: 7 } } })
  const refused = await rawMcp(url, 'POST', session, call('r-1', 'multiply'))
  const allowed = await rawMcp(url, 'POST', session, call('a-1', 'add'))
  row(t, 'mcp, two tools', 'http tools/call multiply | add', 'DTMA error, no Mcp-Seen | 13 with Mcp-Seen', `${JSON.stringify(refused.messages[0]?.error)} ${String(refused.headers['mcp-seen'])} | ${textOf(allowed.messages[0]?.result)} ${String(allowed.headers['mcp-seen'])}`)
  t.match(refused.messages, [{ id: 'r-1', error: { code: -32602, data: { code: 'DTMA_TOOL_NOT_GRANTED' } } }], 'multiply: refused by DTMA')
  t.equal(refused.headers['mcp-seen'], undefined, 'the server wrote no answer to it (it marks each of its own with Mcp-Seen)')
  t.match(allowed.messages, [{ id: 'a-1', result: { content: [{ text: '13' }] } }], 'add: the server answers')
  t.type(allowed.headers['mcp-seen'], 'string', 'with its Mcp-Seen')

  const batch = await rawMcp(url, 'POST', session, [call('b-1', 'add'), call('b-2', 'multiply')])
  const byId = Object.fromEntries(batch.messages.map((message) => [message.id, message]))
  row(t, 'mcp, two tools', 'http batch [add, multiply]', 'add answered by the server, multiply refused', `${batch.status}: ${JSON.stringify(byId['b-1']?.result ?? byId['b-1']?.error)}, ${JSON.stringify(byId['b-2']?.error)}`)
  t.match(byId['b-1'], { result: { content: [{ text: '13' }] } }, 'the batch: the granted call answered by the server')
  t.match(byId['b-2'], { error: { code: -32602, data: { code: 'DTMA_TOOL_NOT_GRANTED' } } }, 'and the refused one by DTMA')
})

t.test('other instances, other scopes, other grants on a session, a token that expires: refused', async (t) => {
  const agent = await startTestAgent(t, { env })
  const targets = await deployTargets(t, agent)
  const [stdio, , http] = targets as [Target, Target, Target]
  const initialize = { jsonrpc: '2.0', id: 'i-1', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'attacker', version: '1' } } }
  const list = { jsonrpc: '2.0', id: 'l-1', method: 'tools/list' }
  const errorOf = (answer: Awaited<ReturnType<typeof rawMcp>>) => answer.messages[0]?.error as { message?: string; data?: { code?: string } } | undefined

  for (const [from, to] of [[stdio, http], [http, stdio]] as const) {
    const answer = await rawMcp(mcpUrl(agent.baseUrl, to.name), 'POST', { authorization: `Bearer ${await agentToken(from)}` }, initialize)
    row(t, `mcp, instance ${from.label}`, `${to.label} POST initialize`, '403 instance not granted', `${answer.status} ${errorOf(answer)?.message}`)
    t.equal(answer.status, 403, `a token for the ${from.label} instance on the ${to.label} one`)
    t.match(errorOf(answer)?.message, /instance not granted/)
  }

  const readOnly = await token({ scopes: ['tools:read'], instances: [stdio.id] })
  const opened = await rawMcp(mcpUrl(agent.baseUrl, stdio.name), 'POST', { authorization: `Bearer ${readOnly}` }, initialize)
  row(t, 'tools:read, the stdio instance', 'stdio POST initialize', '403 missing scope', `${opened.status} ${errorOf(opened)?.message}`)
  t.equal(opened.status, 403, 'tools:read cannot open MCP')
  t.match(errorOf(opened)?.message, /missing scope/)

  for (const target of [stdio, http]) {
    const url = mcpUrl(agent.baseUrl, target.name)
    const session = await rawSession(url, { authorization: `Bearer ${await agentToken(target)}` })
    const narrower = await token({ instances: [target.id], tools: { [target.id]: [Object.keys(target.granted)[0] as string] } })
    const other = await rawMcp(url, 'POST', { ...session, authorization: `Bearer ${narrower}` }, list)
    row(t, 'mcp, one tool', `${target.label} tools/list on a session of the two-tool token`, '403 DTMA_MCP_SESSION_OF_OTHER_GRANT', `${other.status} ${errorOf(other)?.data?.code}`)
    t.equal(other.status, 403, `${target.label}: a session opened with one grant is refused to a token of other tools`)
    t.equal(errorOf(other)?.data?.code, 'DTMA_MCP_SESSION_OF_OTHER_GRANT')
    const admin = await rawMcp(url, 'POST', { ...session, authorization: `Bearer ${TOKEN}` }, list)
    row(t, 'all scopes, every instance', `${target.label} tools/list on that session`, '403', String(admin.status))
    t.equal(admin.status, 403, `${target.label}: and to the admin token too`)
    const renewed = await rawMcp(url, 'POST', { ...session, authorization: `Bearer ${await agentToken(target)}` }, list)
    row(t, 'mcp, the same grant signed again', `${target.label} tools/list on that session`, '200', String(renewed.status))
    t.equal(renewed.status, 200, `${target.label}: a renewed token of the same grant goes on`)
  }

  for (const target of [stdio, http]) {
    const url = mcpUrl(agent.baseUrl, target.name)
    const short = await token({ instances: [target.id], tools: { [target.id]: Object.keys(target.granted) }, lifetimeSeconds: 3 })
    const session = await rawSession(url, { authorization: `Bearer ${short}` })
    const before = await rawMcp(url, 'POST', session, list)
    t.equal(before.status, 200, `${target.label}: the short token lists while it is valid`)
    const after = (await waitFor(
      async () => {
        const answer = await rawMcp(url, 'POST', session, list)
        return answer.status === 200 ? undefined : answer
      },
      30_000,
      500
    )) ?? { status: 200, headers: {}, text: '', messages: [] }
    row(t, 'mcp, expires in 3 s', `${target.label} tools/list in its session after exp`, '401 expired', `${after.status} ${errorOf(after)?.message}`)
    t.equal(after.status, 401, `${target.label}: the session's next request after exp is refused`)
    t.match(errorOf(after)?.message, /expired/)
  }
})
