// A deploy's own credential for its http server (mcpAuth): a server that
// requires a bearer token (as Notion's --auth-token does) is hosted with auth
// on and works through DTMA, health check included; the token is sent to it
// and to nobody else, and appears in no log line, label, event, registry row,
// heartbeat or answer; a wrong or missing credential is told, not hidden.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { registryRow } from '../../src/registry/registry-row.ts'
import { heartbeatPayload } from '../../src/heartbeat/heartbeat-payload.ts'
import { authHeaders, docker, startTestAgent, TOKEN, uniqueName } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, mcpUrl, textOf } from '../helpers/mcp.ts'
import { INITIALIZE, rawMcp } from '../helpers/raw-mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const env = { DTMA_TOOL_PORT_RANGE: '43750-43799', DTMA_MCP_START_TIMEOUT_S: '60' }

function guardedBody(name: string, serverEnv: Record<string, string>, mcpAuth?: unknown, transport: 'http' | 'stdio' = 'http') {
  return mcpDeployBody(name, MCP_IMAGES.toolsV1, transport, {
    mcpPort: 3000,
    environmentVariables: { TOOLS_HTTP_PORT: transport === 'http' ? '3000' : '0', ...serverEnv },
    ...(mcpAuth !== undefined && { mcpAuth })
  })
}

t.test('a server that requires a token works with it, and the token goes nowhere else', async (t) => {
  const agent = await startTestAgent(t, { env })
  const token = `SECRET-UPSTREAM-${randomBytes(12).toString('hex')}`
  const keyed = `SECRET-APIKEY-${randomBytes(12).toString('hex')}`
  const seen: string[] = []
  const json = async (promise: Promise<unknown>) => {
    const answer = (await promise) as { status: number; body: unknown }
    seen.push(JSON.stringify(answer.body))
    return answer
  }

  const bearer = uniqueName('Bearer Guarded')
  agent.deployBody(bearer)
  const deployed = await json(agent.client.deployTool({ body: { ...guardedBody(bearer, { TOOLS_TOKEN: token }, { bearer: token }), waitForMcp: true } }))
  t.match(deployed, { status: 201, body: { data: { mcp: { transport: 'http', status: 'ready' } } } }, 'the health check sent the token: ready')
  const client = await mcpClient(agent.baseUrl, bearer)
  t.same((await client.listTools()).tools.map((tool) => tool.name).sort(), ['add', 'echo'], "through DTMA with the caller's own token, the server's token added")
  t.equal(textOf(await client.callTool({ name: 'echo', arguments: { text: 'guarded' } })), 'guarded')
  await client.close()

  const header = uniqueName('Header Guarded')
  agent.deployBody(header)
  const custom = await json(agent.client.deployTool({ body: { ...guardedBody(header, { TOOLS_TOKEN: keyed, TOOLS_TOKEN_HEADER: 'x-api-key' }, { header: 'X-Api-Key', value: keyed }), waitForMcp: true } }))
  t.match(custom, { status: 201, body: { data: { mcp: { status: 'ready' } } } }, '{ header, value }: the header the server reads')
  const session = await rawMcp(mcpUrl(agent.baseUrl, header), 'POST', authHeaders(), INITIALIZE)
  t.equal(session.status, 200)
  seen.push(session.text)

  // Everything a reader of the agent gets: answers, the event stream, heartbeat, registry rows, labels, the log.
  for (const name of [bearer, header]) {
    await json(agent.client.getTool({ params: { name } }))
    await json(agent.client.toolCapabilities({ params: { name } }))
  }
  await json(agent.client.listTools())
  await json(agent.client.listToolStatus())
  const events = await fetch(`${agent.baseUrl}/events`, { headers: authHeaders(), signal: AbortSignal.timeout(3000) })
  const reader = events.body?.getReader()
  seen.push(Buffer.from((await reader?.read())?.value ?? new Uint8Array()).toString())
  await reader?.cancel()
  const views = agent.instances.list()
  const reports = [JSON.stringify(heartbeatPayload('test', views)), JSON.stringify(views.map((view) => registryRow(view, 'env-1', new Date())))]
  const labels = await Promise.all(views.map(async (view) => JSON.stringify((await docker.getContainer(view.containerId).inspect()).Config.Labels)))
  t.match(reports[0], bearer, 'the heartbeat reports the instances')
  t.equal(agent.store.get(bearer)?.spec.mcpAuth?.value, `Bearer ${token}`, 'the store keeps the credential (it must send it after a restart)')
  t.ok(agent.logs.length > 20, `${agent.logs.length} log lines captured`)
  for (const secret of [token, keyed]) {
    const where = Object.entries({ answers: seen, reports, labels, logs: agent.logs })
      .filter(([, texts]) => texts.some((text) => text.includes(secret)))
      .map(([place]) => place)
    t.same(where, [], `${secret.slice(0, 16)}...: in none of ${seen.length} answers, the heartbeat, the registry rows, the labels, ${agent.logs.length} log lines`)
  }
})

t.test('a wrong or missing credential is told, and an unusable one refused', async (t) => {
  const agent = await startTestAgent(t, { env })
  const token = `SECRET-UPSTREAM-${randomBytes(12).toString('hex')}`
  for (const [what, auth] of [
    ['a wrong token', { bearer: `not-${token}` }],
    ['no credential', undefined]
  ] as const) {
    const name = uniqueName('Refused Guard')
    agent.deployBody(name)
    t.equal((await agent.client.deployTool({ body: guardedBody(name, { TOOLS_TOKEN: token }, auth) })).status, 201, `${what}: deployed`)
    const lastError = await waitFor(async () => {
      const tool = (await agent.client.getTool({ params: { name } })) as { body: { data: { mcp: { last_error: string | null } } } }
      // (Refused connections first, while the server starts.)
      const said = tool.body.data.mcp.last_error ?? ''
      return /401|Unauthorized/.test(said) ? said : undefined
    }, 60_000)
    t.match(lastError, /401|Unauthorized/, `${what}: the health check says the server refused it: ${lastError}`)
    const post = await rawMcp(mcpUrl(agent.baseUrl, name), 'POST', authHeaders(), INITIALIZE)
    t.equal(post.status, 502, `${what}: a caller gets 502, not a 401 that would blame its own token`)
    t.match(JSON.parse(post.text), { jsonrpc: '2.0', id: null, error: { message: /refused DTMA's credential/, data: { code: 'DTMA_MCP_UPSTREAM_FAILED' } } })
    t.notOk(post.text.includes(TOKEN), "the caller's token is not in the answer")
  }

  const reserved = uniqueName('Reserved Header')
  agent.deployBody(reserved)
  const refused = (await agent.client.deployTool({ body: guardedBody(reserved, {}, { header: 'Host', value: 'evil' }) })) as { status: number; body: { error: string } }
  t.equal(refused.status, 400, 'a credential in a header DTMA sets itself is refused')
  t.match(refused.body.error, /mcpAuth\.header: Host is set by DTMA itself/)
  const broken = (await agent.client.deployTool({ body: guardedBody(reserved, {}, { header: 'X-Key', value: `a\r\nInjected: ${token}` }) })) as { status: number; body: { error: string } }
  t.equal(broken.status, 400, 'a value with a line break is refused')
  t.notOk(broken.body.error.includes(token), 'without repeating the value')

  const stdio = uniqueName('Stdio Auth')
  agent.deployBody(stdio)
  const warned = (await agent.client.deployTool({ body: guardedBody(stdio, {}, { bearer: token }, 'stdio') })) as { status: number; body: { warnings?: string[] } }
  t.equal(warned.status, 201)
  t.match(warned.body.warnings, [/mcpAuth is ignored for a stdio server/], 'a stdio server has no use for it: a warning')
  t.equal(agent.store.get(stdio)?.spec.mcpAuth, undefined, 'and it is not kept')
})
