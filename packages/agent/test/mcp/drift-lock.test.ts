// The tool-drift lock's acceptance, on a real stdio server: an image v2
// whose tool `lookup` has another description than v1's, deployed over v1
// (the same instance), is a tool changed since approval. It is withheld:
// left out of tools/list and /capabilities, its call refused with a
// sentence that says how to approve it, still after an agent restart (the
// pins are in the store); the `mcp` event, the registry row (through the
// real registry edge function into PostgreSQL) and Prometheus say what
// changed, and GET /mcp/drift shows the old and new description. Approved,
// it is back. No argument value reaches the events, the registry or the logs.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { startTestAgent, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { callOutcome, collectEvents, DESCRIPTIONS, DRIFT_IMAGES, ensureDriftImages, listedNames, row } from '../helpers/drift.ts'
import { registryBackend, setToolboxToken } from '../helpers/edge-function.ts'
import { mcpClient, mcpDeployBody } from '../helpers/mcp.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureDriftImages)

const ARGUMENT = 'argument-value-never-reported-7c1f'

t.test('a v2 image whose tool description changed: withheld until approved, then back; the event and the registry row say what changed', async (t) => {
  const db = await createTestDatabase(t)
  const instanceId = randomUUID()
  const { environmentId } = await seedInstances(db.pool, randomUUID(), [instanceId])
  await setToolboxToken(db.pool, environmentId, VM_TOKEN)
  const { fn: registry } = await registryBackend(t, db.pool)
  const env = { DTMA_TOOL_PORT_RANGE: '43450-43499', SUPABASE_URL: registry.url, ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId }
  let agent = await startTestAgent(t, { env })
  const name = uniqueName('Drift')
  agent.deployBody(name)
  const { events, text: eventText } = await collectEvents(t, agent, name)
  const rowOf = async () => (await db.pool.query('select * from dtma_container_registry where account_tool_instance_id = $1', [instanceId])).rows[0]

  const v1 = { ...mcpDeployBody(name, DRIFT_IMAGES.v1, 'stdio'), accountToolInstanceId: instanceId, waitForMcp: true }
  t.equal((await agent.client.deployTool({ body: v1 })).status, 201)
  let client = await mcpClient(agent.baseUrl, name)
  const before = await listedNames(client)
  row(t, 'v1 tools/list', 'echo,lookup,mutate', before.join(','))
  t.same(before, ['echo', 'lookup', 'mutate'], 'v1: every tool, pinned at first ready')
  t.same(await callOutcome(client, 'lookup', { word: ARGUMENT }), { text: `${ARGUMENT}: a word` })
  await client.close()

  // The same instance from the v2 image: a redeploy, its changed tool is drift.
  t.equal((await agent.client.removeTool({ params: { name } })).status, 200)
  const redeployed = await agent.client.deployTool({ body: { ...v1, dockerImageUrl: DRIFT_IMAGES.v2, baseConfigOverrideJson: { ...v1.baseConfigOverrideJson, dockerImage: DRIFT_IMAGES.v2 } } })
  t.equal(redeployed.status, 201)
  t.same(redeployed.status === 201 && redeployed.body.data.mcp?.tools_withheld, [{ name: 'lookup', change: 'changed' }], 'the deploy answer names the withheld tool')

  client = await mcpClient(agent.baseUrl, name)
  const withheldList = await listedNames(client)
  row(t, 'v2 tools/list', 'echo,mutate (lookup withheld)', withheldList.join(','))
  t.same(withheldList, ['echo', 'mutate'])
  const refused = await callOutcome(client, 'lookup', { word: ARGUMENT })
  row(t, 'v2 tools/call lookup', `-32602 DTMA_TOOL_WITHHELD "changed since it was approved ... approve"`, `${refused.code} ${refused.dtmaCode} ${JSON.stringify(refused.message)}`)
  t.match(refused, { code: -32602, dtmaCode: 'DTMA_TOOL_WITHHELD', message: /^MCP error -32602: tool "lookup" changed since it was approved .*withheld until an operator approves it .*\/mcp\/approve.*dtma approve/ })
  t.notMatch(refused.message ?? '', /not granted/, 'not the sentence of a tool the token was not granted')
  t.same(await callOutcome(client, 'echo', { text: 'still here' }), { text: 'still here' }, 'an unchanged tool still answers')
  await client.close()

  const capabilities = await agent.client.toolCapabilities({ params: { name } })
  const capabilityNames = capabilities.status === 200 ? (capabilities.body.data.tools ?? []).map((tool) => String(tool.name)).sort() : []
  row(t, 'GET /capabilities tools', 'echo,mutate', capabilityNames.join(','))
  t.same(capabilityNames, ['echo', 'mutate'])

  const drift = await agent.client.toolDrift({ params: { name } })
  const shown = drift.status === 200 ? drift.body.data.withheld : []
  row(t, 'GET /mcp/drift', 'lookup changed, v1 -> v2 description', JSON.stringify(shown.map((tool) => [tool.name, tool.change, tool.pinned?.description, tool.current.description])))
  t.match(shown, [{ name: 'lookup', change: 'changed', pinned: { description: DESCRIPTIONS.v1, inputSchema: { properties: { word: { type: 'string' } } } }, current: { description: DESCRIPTIONS.v2 } }])
  t.match(drift.status === 200 && drift.body.data, { drift: 'lock', admit_new_tools: false, pinned: ['echo', 'lookup', 'mutate'] })

  const event = await waitFor(() => events.find((item) => item.kind === 'drift'))
  row(t, 'mcp event', 'kind drift, lookup changed, not approved', JSON.stringify({ kind: event?.kind, drift: event?.drift?.tools, approved: event?.drift?.approved }))
  t.match(event, { instanceName: name, kind: 'drift', drift: { tools: [{ name: 'lookup', change: 'changed' }], approved: null }, mcp: { tools_withheld: [{ name: 'lookup', change: 'changed' }] } })
  const registryRow = await waitFor(async () => {
    const found = await rowOf()
    return Array.isArray(found?.mcp_tools_withheld) && found.mcp_tools_withheld.length > 0 ? found : undefined
  })
  row(t, 'registry mcp_tools_withheld', '[lookup changed]', JSON.stringify(registryRow?.mcp_tools_withheld))
  t.same(registryRow?.mcp_tools_withheld, [{ name: 'lookup', change: 'changed' }])
  const metrics = async () => {
    const answer = await agent.client.metrics()
    return answer.status === 200 ? String(answer.body) : ''
  }
  const label = `instance="${name}"`
  const gauge = (text: string) => new RegExp(`dtma_mcp_tools_withheld\\{${label}\\} (\\d+)`).exec(text)?.[1]
  const text = await metrics()
  row(t, 'metrics', 'withheld 1, detections 1', `withheld ${gauge(text)}, detections ${new RegExp(`dtma_mcp_drift_detections_total\\{${label}\\} (\\d+)`).exec(text)?.[1]}`)
  t.equal(gauge(text), '1')
  t.match(text, new RegExp(`dtma_mcp_drift_detections_total\\{${label}\\} 1\\b`))

  // An agent restart: the pins are in the store, the tool stays withheld.
  const firstLogs = agent.logs
  await agent.app.close()
  agent = await startTestAgent(t, { env, dataDir: agent.dataDir })
  agent.deployBody(name)
  t.ok(await waitFor(async () => {
    const view = await agent.client.getTool({ params: { name } })
    return view.status === 200 && view.body.data.mcp?.status === 'ready' && view.body.data.mcp.tools_withheld !== undefined ? true : undefined
  }), 'listed again after the restart')
  client = await mcpClient(agent.baseUrl, name)
  const afterRestart = await callOutcome(client, 'lookup', { word: ARGUMENT })
  row(t, 'after an agent restart: tools/list | call lookup', 'echo,mutate | DTMA_TOOL_WITHHELD', `${(await listedNames(client)).join(',')} | ${afterRestart.dtmaCode}`)
  t.equal(afterRestart.dtmaCode, 'DTMA_TOOL_WITHHELD')

  const approved = await agent.client.approveTools({ params: { name }, body: { tools: ['lookup'] } })
  row(t, 'POST /mcp/approve {tools:[lookup]}', '200 approved lookup', `${approved.status} ${JSON.stringify(approved.body)}`)
  t.match(approved, { status: 200, body: { data: { approved: ['lookup'], withheld: [] } } })
  const back = await listedNames(client)
  const called = await callOutcome(client, 'lookup', { word: 'again' })
  row(t, 'approved: tools/list | call lookup', 'echo,lookup,mutate | again: a word', `${back.join(',')} | ${called.text}`)
  t.same(back, ['echo', 'lookup', 'mutate'])
  t.same(called, { text: 'again: a word' })
  t.equal((await client.listTools()).tools.find((tool) => tool.name === 'lookup')?.description, DESCRIPTIONS.v2, 'the approved definition is the new one')
  await client.close()
  const cleared = await waitFor(async () => {
    const found = await rowOf()
    return Array.isArray(found?.mcp_tools_withheld) && found.mcp_tools_withheld.length === 0 ? found : undefined
  })
  row(t, 'registry after approval', '[]', JSON.stringify(cleared?.mcp_tools_withheld))
  t.ok(cleared, 'the registry row says nothing is withheld')
  t.equal(gauge(await metrics()), '0')

  const unknown = await agent.client.approveTools({ params: { name }, body: { tools: ['nonexistent'] } })
  row(t, 'approve a tool the server does not list', '400 naming it', `${unknown.status} ${JSON.stringify(unknown.body)}`)
  t.match(unknown, { status: 400, body: { code: 'DTMA_BAD_REQUEST', error: /lists no tool "nonexistent"/ } })
  const malformed = await agent.client.approveTools({ params: { name }, body: { tools: [] } as never })
  t.equal(malformed.status, 400, 'an empty list is refused by the schema')

  t.notMatch(eventText(), ARGUMENT, 'no argument value in the events')
  t.notMatch(JSON.stringify(await rowOf()), ARGUMENT, 'nor in the registry row')
  t.notOk([...firstLogs, ...agent.logs].some((line) => line.includes(ARGUMENT)), 'nor in the logs')
})
