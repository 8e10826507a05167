// A toolbox as the earlier agent left it (an unlabelled container named
// after its instance, holding a host port and env; an agentopia.mcp.*
// labelled one; an unrelated container), then this agent: Agentopia's real
// call sequences, replayed byte for byte, end with exactly one container per
// instance on the host port it held, the labelled one adopted with its id,
// and the unrelated container untouched.
import { randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { docker, fetchText, freePort, startTestAgent, TEST_IMAGE, TEST_IMAGE_V2, TOKEN, type TestAgent } from '../helpers/agent.ts'
import { callDTMA, callDtmaApi, CallerError, instanceServiceDeploy, readStatus, toolboxToolsOverride } from '../helpers/agentopia-callers.ts'
import { containersOf, earlierAgentTool, legacyName, type EarlierTool } from '../helpers/earlier-agent.ts'
import { waitFor } from '../helpers/wait.ts'

const enc = encodeURIComponent

/** What the agent reports of one instance (GET /status with the token, as the refresh operation reads it). */
async function reported(agent: TestAgent, name: string): Promise<any> {
  return (await readStatus(agent.baseUrl, TOKEN)).tool_instances.find((item: { instance_name_on_toolbox: string }) => item.instance_name_on_toolbox === name)
}

/** Exactly one container is the instance's, it is DTMA's, and it answers on the host port the old one held. */
async function oneContainerOnItsPort(t: Test, agent: TestAgent, tool: EarlierTool): Promise<void> {
  const ids = await containersOf(tool.instanceName, tool.name)
  t.equal(ids.length, 1, `one container for ${tool.instanceName}`)
  const info = await docker.getContainer(ids[0] as string).inspect()
  t.equal(info.Config.Labels['dtma.instance-name'], tool.instanceName, "it is DTMA's, labelled with the instance name")
  t.equal(info.Config.Labels['dtma.managed'], 'true')
  t.match(await reported(agent, tool.instanceName), { ports: [{ host_port: tool.hostPort, container_port: 8080 }] }, 'reported on the host port the earlier container held')
  if (info.State.Running) t.equal(await fetchText(`http://127.0.0.1:${tool.hostPort}/`), 'dtma-test-ok\n', 'and answers there')
}

async function rejects(call: () => Promise<unknown>): Promise<CallerError | undefined> {
  try {
    await call()
    return undefined
  } catch (error) {
    return error as CallerError
  }
}

t.test("the earlier agent's containers are taken over, never duplicated, and nothing else is touched", async (t) => {
  // Each step removes what it made through the agent: while the agent runs, it makes again what should run.
  const unrelated = await earlierAgentTool(t, { name: legacyName('unrelated-cache'), hostPort: await freePort(), restartPolicy: 'no' })
  const labelled = await earlierAgentTool(t, { name: legacyName('mcp-group-tool'), hostPort: await freePort(), env: ['MCP_TOKEN=labelled-secret'], mcpLabels: { instanceName: `Labelled MCP Server-${Date.now()}` } })
  const unrelatedBefore = await docker.getContainer(unrelated.id).inspect()

  const agent = await startTestAgent(t, { env: { DTMA_ADOPT_LABELLED: 'true' } })

  await t.test('the agentopia.mcp labelled container is adopted at start with its name and id', async (t) => {
    // Ready before the take-over is done: listed (pending) at once, adopted in the background.
    t.ok(await reported(agent, labelled.instanceName), 'listed as soon as the agent is ready')
    const item = await waitFor(async () => {
      const now = await reported(agent, labelled.instanceName)
      return now?.status === 'running' && now.container_id !== '' ? now : undefined
    })
    t.match(item, { account_tool_instance_id: labelled.accountToolInstanceId, status: 'running', mcp: { transport: 'http', endpoint: '/mcp' } })
    t.equal((await docker.listContainers({ all: true, filters: { name: [labelled.name] } })).filter((c) => c.Names.includes(`/${labelled.name}`)).length, 0, 'the old container is gone')
    t.same(agent.store.get(labelled.instanceName)?.spec.env.filter((entry) => entry.startsWith('MCP_TOKEN=')), ['MCP_TOKEN=labelled-secret'], 'its env kept')
    await oneContainerOnItsPort(t, agent, labelled)
    t.match(await agent.client.removeTool({ params: { name: labelled.instanceName } }), { status: 200 })
  })

  await t.test('toolbox-tools deploys a name the earlier agent ran: taken over, same port, env kept; its retry is the same deploy', async (t) => {
    const tool = await earlierAgentTool(t, { name: legacyName('context7'), hostPort: await freePort(), env: ['API_KEY=sk-earlier'] })
    const body = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: tool.name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: toolboxToolsOverride({ API_KEY: 'sk-earlier' }, agent.port) }
    const deployed = await callDTMA(agent.baseUrl, TOKEN, 'POST', '/tools', body)
    t.match(deployed, { success: true, message: /earlier agent's container .* was taken over/, data: { account_tool_instance_id: body.accountToolInstanceId, ports: [{ host_port: tool.hostPort }], state: 'running' } })
    t.notOk(JSON.stringify(deployed).includes(`host_port":${agent.port}`), "never reported on the agent's own port")
    t.same(agent.store.get(tool.name)?.spec.env, ['API_KEY=sk-earlier'], 'env kept')
    const again = await callDTMA(agent.baseUrl, TOKEN, 'POST', '/tools', body)
    t.equal(again.data.container_id, deployed.data.container_id, 'the retry answers the same container')
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'POST', `/tools/${enc(tool.name)}/start`), { data: { state: 'running' } })
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'POST', `/tools/${enc(tool.name)}/stop`), { data: { state: 'stopped' } })
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'POST', `/tools/${enc(tool.name)}/start`), { data: { state: 'running' } })
    await oneContainerOnItsPort(t, agent, tool)
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'DELETE', `/tools/${enc(tool.name)}`), { success: true })
    t.same(await containersOf(tool.name), [], 'deleted: nothing left')
  })

  await t.test('start before any deploy (where the earlier agent answered 404): taken over, and the deploy that follows gives it its id', async (t) => {
    const tool = await earlierAgentTool(t, { name: legacyName('brave-search'), hostPort: await freePort(), env: ['BRAVE_KEY=b'] })
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'POST', `/tools/${enc(tool.name)}/start`), { success: true, data: { state: 'running' } })
    t.match(await reported(agent, tool.name), { account_tool_instance_id: '', status: 'running' }, 'managed, its id unknown until a deploy brings it')
    const id = randomUUID()
    const body = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: tool.name, accountToolInstanceId: id, baseConfigOverrideJson: toolboxToolsOverride({ BRAVE_KEY: 'b' }, agent.port) }
    const deployed = await callDTMA(agent.baseUrl, TOKEN, 'POST', '/tools', body)
    t.match(deployed, { success: true, data: { account_tool_instance_id: id, ports: [{ host_port: tool.hostPort }] } })
    t.match(await reported(agent, tool.name), { account_tool_instance_id: id })
    const retried = await fetch(`${agent.baseUrl}/tools`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) })
    t.equal(retried.status, 200, 'the same deploy again: 200, idempotent')
    t.match(await retried.json(), { data: { container_id: deployed.data.container_id, account_tool_instance_id: id } }, 'the same container')
    t.same(agent.store.get(tool.name)?.spec.env, ['BRAVE_KEY=b'], "the container's own env still the instance's")
    await oneContainerOnItsPort(t, agent, tool)
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'DELETE', `/tools/${enc(tool.name)}`), { success: true })
  })

  await t.test('ToolInstanceService stops, starts and deletes by the raw name', async (t) => {
    const tool = await earlierAgentTool(t, { name: legacyName('github'), hostPort: await freePort() })
    t.match(await callDtmaApi(agent.baseUrl, TOKEN, 'POST', `/tools/${tool.name}/stop`), { success: true, data: { state: 'stopped' } })
    await oneContainerOnItsPort(t, agent, tool)
    t.match(await callDtmaApi(agent.baseUrl, TOKEN, 'POST', `/tools/${tool.name}/start`), { success: true, data: { state: 'running' } })
    await oneContainerOnItsPort(t, agent, tool)
    t.match(await callDtmaApi(agent.baseUrl, TOKEN, 'DELETE', `/tools/${tool.name}`), { success: true })
    t.same(await containersOf(tool.name), [])
  })

  await t.test('delete before any deploy removes the earlier container instead of leaving it running forever', async (t) => {
    const tool = await earlierAgentTool(t, { name: legacyName('slack'), hostPort: await freePort() })
    t.match(await callDTMA(agent.baseUrl, TOKEN, 'DELETE', `/tools/${enc(tool.name)}`), { success: true, message: `Tool instance '${tool.name}' removed successfully.` })
    t.same(await containersOf(tool.name), [], 'gone')
    t.equal((await rejects(() => callDTMA(agent.baseUrl, TOKEN, 'DELETE', `/tools/${enc(tool.name)}`)))?.status, 404, 'a second delete: 404')
  })

  await t.test('another image than the one that runs: a 409 that says so, and the container is left as it is', async (t) => {
    const tool = await earlierAgentTool(t, { name: legacyName('notion'), hostPort: await freePort() })
    const refused = await rejects(() => instanceServiceDeploy(agent.baseUrl, TOKEN, { image: TEST_IMAGE_V2, name: tool.name, id: randomUUID(), override: null }))
    t.equal(refused?.status, 409)
    t.match(refused?.text, new RegExp(`earlier agent's container, which runs image ${TEST_IMAGE} while ${TEST_IMAGE_V2} was asked`))
    const info = await docker.getContainer(tool.id).inspect()
    t.equal(info.State.Running, true, 'still running, unlabelled')
    t.same(await containersOf(tool.name), [tool.id])
  })

  await t.test('GET /tools/legacy lists what may be taken over and why; adopt takes one over with its id', async (t) => {
    const tool = await earlierAgentTool(t, { name: legacyName('filesystem'), hostPort: await freePort() })
    const listed = await agent.client.listLegacy()
    if (listed.status !== 200) return t.fail(`status ${listed.status}`)
    t.match(
      listed.body.data.find((candidate) => candidate.container_name === tool.name),
      {
        instance_name: tool.name,
        image: TEST_IMAGE,
        account_tool_instance_id: null,
        ports: [{ host_port: tool.hostPort }],
        reasons: ['unlabelled', 'restart-unless-stopped', 'named-like-an-instance', 'no-mounts', 'image-process', 'publishes-ports'],
        eligible: true,
        why_not: null
      }
    )
    t.match(
      listed.body.data.find((candidate) => candidate.container_name === unrelated.name),
      { eligible: false, why_not: "its restart policy is 'no', and the earlier agent always set 'unless-stopped'" },
      'a container with another restart policy is listed as never taken, with why'
    )
    t.notOk(listed.body.data.some((candidate) => candidate.container_name.startsWith('dtma-')), "DTMA's own containers are not listed")
    const shadowed = await agent.client.adoptLegacy({ params: { name: tool.name }, body: { instanceNameOnToolbox: 'status' } })
    t.match(shadowed, { status: 400, body: { error: /GET \/tools\/status is a route of its own/ } }, 'not under a name a route shadows')
    const id = randomUUID()
    const adopted = await agent.client.adoptLegacy({ params: { name: tool.name }, body: { accountToolInstanceId: id } })
    t.match(adopted, { status: 200, body: { success: true, data: { instance_name_on_toolbox: tool.name, account_tool_instance_id: id, status: 'running' } } })
    await oneContainerOnItsPort(t, agent, tool)
    t.match(await agent.client.adoptLegacy({ params: { name: tool.name }, body: {} }), { status: 404 }, 'nothing left to adopt under that name')
    t.match(await agent.client.removeTool({ params: { name: tool.name } }), { status: 200 })
    t.match(await agent.client.adoptLegacy({ params: { name: '../etc' }, body: {} }), { status: 400 })
  })

  t.test('the unrelated container was never touched', async (t) => {
    const after = await docker.getContainer(unrelated.id).inspect()
    t.equal(after.State.StartedAt, unrelatedBefore.State.StartedAt)
    t.same(after.Config.Labels, unrelatedBefore.Config.Labels)
    t.equal(after.State.Running, true)
  })
})
