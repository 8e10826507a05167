// The audit trail end to end: an AI agent's token calls a stdio and an http
// server (real images, real Docker) through /tools/{name}/mcp, with a run of
// calls of every outcome: ok, a tool error (result.isError), a protocol
// error (a JSON-RPC error of the server), a refused call (a tool the token
// was not granted), a resources/read the server has no method for, and a
// call left unanswered (the server frozen, the caller gone: lost). The
// audit rows must match the calls one for one (count, targets, outcomes),
// in GET /audit, the `audit` events and the registry's dtma_mcp_audit (the
// real `registry` edge function on PostgreSQL, in batches), with the
// arguments only as their SHA-256: a value unique to this run is looked
// for in the SQLite file, the agent's log, the event stream, the requests
// to the registry function and its table, and must be in none.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { signToolboxToken, type AuditRecord } from '@dtma/contract'
import t from 'tap'
import { authHeaders, docker, startTestAgent, TEST_AUDIENCE, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { registryBackend, setToolboxToken } from '../helpers/edge-function.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody } from '../helpers/mcp.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const UNIQUE = `audit-argument-${randomBytes(8).toString('hex')}`
const SUBJECT = `audit-agent-${randomBytes(4).toString('hex')}`
const digest = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex')

t.test('audit rows match the calls one for one, with no argument value in the store, log, events or registry', async (t) => {
  const db = await createTestDatabase(t)
  const [stdioId, httpId] = [randomUUID(), randomUUID()]
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [stdioId, httpId])
  await setToolboxToken(db.pool, environmentId, VM_TOKEN)
  const { fn } = await registryBackend(t, db.pool)
  const agent = await startTestAgent(t, { env: { SUPABASE_URL: fn.url, ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId, DTMA_TOOL_PORT_RANGE: '43700-43749', DTMA_MCP_START_TIMEOUT_S: '60' } })

  const targets = {
    stdio: { ...mcpDeployBody(uniqueName('Audit Stdio'), MCP_IMAGES.toolsV1, 'stdio', { environmentVariables: { TOOLS_ERRORS: '1' } }), accountToolInstanceId: stdioId },
    http: { ...mcpDeployBody(uniqueName('Audit Http'), MCP_IMAGES.toolsV2, 'http', { mcpPort: 3000, environmentVariables: { TOOLS_HTTP_PORT: '3000', TOOLS_ERRORS: '1' } }), accountToolInstanceId: httpId }
  }
  const containers: Record<string, string> = {}
  for (const body of Object.values(targets)) {
    agent.deployBody(body.instanceNameOnToolbox)
    const deployed = await agent.client.deployTool({ body: { ...body, waitForMcp: true } })
    t.equal(deployed.status, 201, `${body.instanceNameOnToolbox} deployed and ready`)
    containers[body.instanceNameOnToolbox] = deployed.status === 201 ? deployed.body.data.container_id : ''
  }

  // The event stream, open before the calls: with a token that may read logs, and with one that may not.
  const events = new AbortController()
  t.teardown(() => events.abort())
  const listen = async (headers: Record<string, string>) => {
    const stream = await fetch(`${agent.baseUrl}/events`, { headers, signal: events.signal })
    const heard = { text: '', done: Promise.resolve() }
    heard.done = (async () => {
      const decoder = new TextDecoder()
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) heard.text += decoder.decode(chunk, { stream: true })
    })().catch(() => undefined)
    return heard
  }
  const logsReader = await listen(authHeaders())
  const toolsReader = await listen(authHeaders(await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: ['tools:read'], lifetimeSeconds: 600, subject: 'watcher' })))

  const token = await signToolboxToken(VM_TOKEN, {
    audience: TEST_AUDIENCE, scopes: ['mcp'], lifetimeSeconds: 600, subject: SUBJECT,
    instances: [stdioId, httpId], tools: { [stdioId]: ['echo', 'add'], [httpId]: ['echo', 'add'] }
  })
  const expected: string[] = []
  for (const [label, body] of Object.entries(targets)) {
    const name = body.instanceNameOnToolbox
    const client = await mcpClient(agent.baseUrl, name, { token })
    const ok = await client.callTool({ name: 'echo', arguments: { text: UNIQUE } })
    t.notOk(ok.isError, `${label}: echo answered`)
    await client.callTool({ name: 'add', arguments: { b: 40, a: 2 } })
    const toolError = await client.callTool({ name: 'echo', arguments: { text: { nested: UNIQUE } } })
    t.equal(toolError.isError, true, `${label}: a bad argument is a tool error`)
    const refused = await client.callTool({ name: 'multiply', arguments: { a: UNIQUE, b: 1 } }).then(() => 'answered', (error: Error) => error.message)
    t.match(refused, /not granted/, `${label}: multiply is not granted`)
    const protocol = await client.getPrompt({ name: 'fail' }).then(() => 'answered', (error: { code?: number }) => String(error.code))
    t.equal(protocol, '-32042', `${label}: the prompt fails with the server's JSON-RPC error`)
    const noMethod = await client.readResource({ uri: 'file:///audit-test' }).then(() => 'answered', (error: { code?: number }) => String(error.code))
    t.equal(noMethod, '-32601', `${label}: the server has no resources`)
    await client.close()
    expected.push(`${name} tools/call echo ok`, `${name} tools/call add ok`, `${name} tools/call echo tool-error`, `${name} tools/call multiply refused`, `${name} prompts/get fail protocol-error`, `${name} resources/read file:///audit-test protocol-error`)
  }
  // A call that never gets its answer: the stdio server is frozen (SIGSTOP to its processes, by their host pids: the container
  // still runs for Docker, where a `docker pause` would be seen as stopped and the call refused) while it is asked, and the
  // caller ends its session.
  const stdioName = targets.stdio.instanceNameOnToolbox
  const top = (await docker.getContainer(containers[stdioName] as string).top()) as { Titles: string[]; Processes: string[][] }
  const signal = (name: NodeJS.Signals) => {
    for (const row of top.Processes) process.kill(Number(row[top.Titles.indexOf('PID')]), name)
  }
  const frozen = { pause: async () => signal('SIGSTOP'), unpause: async () => signal('SIGCONT') }
  t.teardown(() => frozen.unpause().catch(() => undefined))
  const client = await mcpClient(agent.baseUrl, stdioName, { token })
  const toServer = async () => Number(/dtma_mcp_bridge_messages_total\{direction="to-server"\} (\d+)/.exec(await (await fetch(`${agent.baseUrl}/metrics`, { headers: authHeaders() })).text())?.[1] ?? 0)
  const before = await toServer()
  await frozen.pause()
  const unanswered = client.callTool({ name: 'echo', arguments: { text: UNIQUE } }).then(() => 'answered', () => 'no answer')
  t.ok(await waitFor(async () => (await toServer()) > before || undefined), 'the call went to the frozen server')
  await client.close()
  await frozen.unpause()
  t.equal(await unanswered, 'no answer', 'the frozen server never answered')
  expected.push(`${stdioName} tools/call echo lost`)
  expected.sort()
  const key = (row: AuditRecord) => `${row.instance_name_on_toolbox} ${row.method} ${row.target} ${row.outcome}`

  const rows = (await waitFor(async () => {
    const audit = await fetch(`${agent.baseUrl}/audit?subject=${SUBJECT}&limit=1000`, { headers: authHeaders() })
    const data = ((await audit.json()) as { data: AuditRecord[] }).data
    return data.length >= expected.length ? data : undefined
  })) as AuditRecord[]
  t.comment(`calls made ${expected.length}, audit rows ${rows.length}`)
  t.same(rows.map(key).sort(), expected, 'one row per call: instance, method, target, outcome')
  t.match(rows.find((row) => row.outcome === 'lost'), { reason: 'the session closed before the answer' })
  t.ok(rows.every((row) => row.caller === SUBJECT && row.duration_ms >= 0), 'each names the token\'s subject and a duration')
  const echoOk = rows.find((row) => row.target === 'echo' && row.outcome === 'ok')
  t.equal(echoOk?.args_sha256, digest({ text: UNIQUE }), 'the arguments as the SHA-256 of their canonical JSON')
  t.equal(rows.find((row) => row.target === 'add')?.args_sha256, digest({ a: 2, b: 40 }), 'keys sorted: {b, a} digests as {a, b}')
  const refusedOn = (instance: string) => rows.find((row) => row.outcome === 'refused' && row.instance_name_on_toolbox === instance)
  // multiply is a tool of v2 only: listed by the http server, not by the stdio one.
  t.match(refusedOn(targets.stdio.instanceNameOnToolbox), { reason: 'DTMA_TOOL_NOT_GRANTED', listed: false })
  t.match(refusedOn(targets.http.instanceNameOnToolbox), { reason: 'DTMA_TOOL_NOT_GRANTED', listed: true })
  t.match(rows.find((row) => row.target === 'fail'), { error_code: -32042 })
  t.equal(rows.filter((row) => row.target === 'echo' && row.outcome === 'ok').every((row) => row.listed), true, 'echo is a listed tool')

  // The events, the registry's rows and the metrics.
  const audited = (text = logsReader.text) => [...text.matchAll(/^event: audit\ndata: (.*)$/gm)].map((match) => JSON.parse(match[1] as string) as AuditRecord).filter((row) => row.caller === SUBJECT)
  await waitFor(async () => audited().length >= expected.length || undefined)
  t.same(audited().map(key).sort(), expected, 'an `audit` event per call')
  t.ok(toolsReader.text.includes('event: instance'), 'a token with tools:read only hears the instances ...')
  t.equal(audited(toolsReader.text).length, 0, '... and no `audit` event (GET /audit\'s scope is logs:read)')
  const mirrored = await waitFor(async () => {
    const { rows: found } = await db.pool.query('select * from dtma_mcp_audit where caller = $1', [SUBJECT])
    return found.length >= expected.length ? found : undefined
  }) as Array<Record<string, unknown>>
  t.same(mirrored.map((row) => `${row.instance_name_on_toolbox} ${row.method} ${row.target} ${row.outcome}`).sort(), expected, 'the registry has every row')
  t.ok(mirrored.every((row) => row.account_tool_environment_id === environmentId), 'under this toolbox')
  const batches = fn.calls.filter((call) => (call.body as { operation?: string }).operation === 'audit')
  t.comment(`registry audit requests: ${batches.length} for ${mirrored.length} rows (status ${batches.map((call) => call.status).join(', ')})`)
  t.ok(batches.length < mirrored.length, 'batched, not one request per call')
  const metrics = await (await fetch(`${agent.baseUrl}/metrics`, { headers: authHeaders() })).text()
  t.match(metrics, `dtma_mcp_calls_total{instance="${stdioName}",tool="echo",outcome="ok"} 1`)
  t.match(metrics, `dtma_mcp_calls_total{instance="${stdioName}",tool="other",outcome="refused"} 1`, 'a tool the server did not list is "other"')
  t.notOk(metrics.includes(UNIQUE), 'no argument in a label')

  // The unique value, everywhere it must not be.
  events.abort()
  await Promise.all([logsReader.done, toolsReader.done])
  const eventText = logsReader.text
  const storeFiles = readdirSync(agent.dataDir).filter((file) => file.startsWith('dtma.db'))
  const storeText = storeFiles.map((file) => readFileSync(join(agent.dataDir, file)).toString('latin1')).join('\n')
  t.ok(storeText.includes(SUBJECT), `the store files (${storeFiles.join(', ')}) hold the trail`)
  const { rows: registryText } = await db.pool.query('select to_jsonb(a)::text as row from dtma_mcp_audit a')
  const places: Array<[string, string]> = [
    ['the store (SQLite file and WAL)', storeText],
    ["the agent's log", agent.logs.join('\n')],
    ['the event stream', eventText],
    ['the requests to the registry function', JSON.stringify(fn.calls)],
    ['the registry table', registryText.map((row) => row.row).join('\n')]
  ]
  for (const [place, text] of places) {
    const seen = text.includes(UNIQUE)
    t.comment(`argument value in ${place}: expected none, seen ${seen ? 'some' : 'none'}`)
    t.notOk(seen, `no argument value in ${place}`)
  }
})
