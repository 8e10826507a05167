// toolbox-tools' REST routes against the Supabase stand-in and a scripted
// agent: auth and ownership, the deploy answer adminMCPService reads, the
// override passed on as sent and stored with the agent's bound ports (also
// for rows of the earlier version), one instance per catalog tool, the
// status transitions, error passing, deadlines, the re-deploy on a 404 from
// start, and secrets kept out of answers.
import type { DeployToolBody } from '../../../packages/contract/src/index.ts'
import * as assert from '../_test/assert.ts'
import { agentReplies, portMapping, toolInstance, type AgentCall, type AgentReply } from '../_test/fake-agent.ts'
import type { World } from '../_test/fixtures.ts'
import { AGENT_TOKEN, toolboxTools } from '../_test/toolbox-tools.ts'

const NAME = 'Context7 MCP Server-1750278276605'
const REASSIGNED = 'Host port 30000/tcp is the agent port: 30001 is used instead'

/** The agent's choice of host ports: the asked one, or 30001.. for "any" and for its own 30000. */
function boundPorts(body: DeployToolBody) {
  const asked = [
    ...Object.entries(body.baseConfigOverrideJson?.HostConfig?.PortBindings ?? {}).map(([key, [binding]]) => [Number(key.split('/')[0]), Number(binding?.HostPort ?? 0)]),
    ...(body.baseConfigOverrideJson?.portMappings ?? []).map((mapping) => [Number(mapping.containerPort), Number(mapping.hostPort ?? 0)])
  ]
  return asked.map(([container, host], index) => portMapping(container as number, host === 0 || host === 30000 ? 30001 + index : (host as number)))
}

/** An agent that deploys anything, starts and stops on request, and lists nothing it was not asked to run. */
function happyAgent(call: AgentCall): AgentReply {
  if (call.method === 'POST' && call.path === '/tools') {
    const body = call.body as DeployToolBody
    const ports = boundPorts(body)
    return agentReplies.deployed(body, { ports, ...(ports.some((port) => port.host_port === 30001) && { warnings: [REASSIGNED] }) })
  }
  if (call.method === 'GET' && call.path === '/tools') return agentReplies.list([])
  if (call.path.endsWith('/start')) return agentReplies.state('running')
  if (call.path.endsWith('/stop')) return agentReplies.state('stopped')
  if (call.path.endsWith('/restart')) return agentReplies.state('running')
  if (call.method === 'DELETE') return { status: 200, body: { success: true, message: 'removed' } }
  return agentReplies.error(404, 'DTMA_ROUTE_NOT_FOUND', 'Not Found')
}

/** adminMCPService's deploy body. */
function adminDeployBody(world: World, name = NAME, env: Record<string, string> = { API_KEY: 'sk-secret-value', MODE: 'x=y' }) {
  return {
    toolCatalogId: world.mcpCatalogId,
    instanceNameOnToolbox: name,
    baseConfigOverrideJson: { dockerImage: 'dtma-test/busybox:v1', environmentVariables: env, portMappings: [{ containerPort: 8080, hostPort: 30000 }] }
  }
}

Deno.test('a request without a JWT is 401 and touches no table', async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const reply = await call('GET', `/${world.toolboxId}/tools`, undefined, null)
    assert.equal(reply.status, 401)
    assert.deepEqual(reply.body, { success: false, error: 'Missing or invalid Authorization header', code: 'DTMA_UNAUTHORIZED' })
    assert.equal(world.standIn.requests.length, 0)
    assert.equal(agent.calls.length, 0)
  } finally {
    await world.close()
  }
})

Deno.test("another user's toolbox, or an id that cannot be a toolbox, is 404 and the agent is never called", async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const deployed = await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world))
    assert.equal(deployed.status, 201)
    const calls = agent.calls.length
    const foreign = await call('GET', `/${world.toolboxId}/tools`, undefined, world.otherUserJwt)
    assert.equal(foreign.status, 404)
    assert.equal(foreign.body.code, 'DTMA_NOT_FOUND')
    assert.equal((await call('POST', `/${world.toolboxId}/tools/${deployed.body.id}/stop`, undefined, world.otherUserJwt)).status, 404)
    const notAnId = await call('POST', '/my-toolbox/tools/x/start')
    assert.equal(notAnId.status, 404)
    assert.equal(notAnId.body.error, "Toolbox 'my-toolbox' not found")
    assert.equal(agent.calls.length, calls)
    // The auth check is Supabase Auth's own endpoint, with the user's JWT.
    assert.ok(world.standIn.requests.some((r) => r.method === 'GET' && r.path === '/auth/v1/user'))
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test("deploy passes the frontend's override on as sent, answers the row with id on top and keeps the agent's ports and warnings", async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const body = adminDeployBody(world)
    const reply = await call('POST', `/${world.toolboxId}/tools`, body)
    assert.equal(reply.status, 201)
    const id = reply.body.id
    const row = (await world.standIn.row('account_tool_instances', id))
    assert.ok(row, 'deployment.id is the new account_tool_instances row')
    // Every key the earlier answer had, and the row's columns beside them.
    assert.equal(reply.body.success, true)
    assert.equal(reply.body.status, 'running')
    assert.equal(reply.body.status_on_toolbox, 'running')
    assert.equal(reply.body.serverName, NAME)
    assert.equal(reply.body.message, `Tool instance '${NAME}' deployed.`)
    assert.equal(reply.body.tool_catalog_id, world.mcpCatalogId)
    assert.equal(reply.body.created_at, row.created_at)
    assert.deepEqual(reply.body.warnings, [REASSIGNED])
    assert.equal(reply.body.data.container_id, 'c0ffee')
    assert.deepEqual(reply.body.ports, [{ container_port: 8080, host_port: 30001, protocol: 'tcp' }])
    assert.deepEqual(reply.body.environment_variable_keys, ['API_KEY', 'MODE'])
    assert.ok(!JSON.stringify(reply.body).includes('sk-secret-value'), 'env values never go back to the browser')

    const [deployCall] = agent.calls
    assert.equal(deployCall?.authorization, `Bearer ${AGENT_TOKEN}`)
    assert.deepEqual(deployCall?.body, {
      dockerImageUrl: 'dtma-test/busybox:v1',
      instanceNameOnToolbox: NAME,
      accountToolInstanceId: id,
      baseConfigOverrideJson: body.baseConfigOverrideJson
    })
    assert.deepEqual(row.base_config_override_json, {
      dockerImage: 'dtma-test/busybox:v1',
      environmentVariables: { API_KEY: 'sk-secret-value', MODE: 'x=y' },
      portMappings: [{ containerPort: 8080, hostPort: 30001, protocol: 'tcp' }]
    }, 'the stored override asks for the port the agent bound')
    assert.deepEqual(await world.standIn.statusHistory(id), ['deploying', 'running'])
    // The insert asked for the row back; PostgREST only returns it with this Prefer.
    const insert = world.standIn.requests.find((r) => r.method === 'POST' && r.path === '/rest/v1/account_tool_instances')
    assert.equal(insert?.prefer, 'return=representation')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('a deploy without override runs the catalog image with none; a Docker-shaped one is stored with the bound ports in service shape', async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const bare = await call('POST', `/${world.toolboxId}/tools`, { toolCatalogId: world.catalogId, instanceNameOnToolbox: 'bare' })
    assert.equal(bare.status, 201)
    assert.deepEqual(agent.calls[0]?.body, { dockerImageUrl: 'dtma-test/busybox:v1', instanceNameOnToolbox: 'bare', accountToolInstanceId: bare.body.id, baseConfigOverrideJson: null })
    assert.equal((await world.standIn.rows('account_tool_instances'))[0]?.base_config_override_json, null)
    assert.deepEqual(bare.body.ports, [])

    const docker = await call('POST', `/${world.toolboxId}/tools`, {
      toolCatalogId: world.mcpCatalogId,
      instanceNameOnToolbox: 'docker shaped',
      baseConfigOverrideJson: { Env: ['TOKEN=t'], HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '30000' }] } } }
    })
    assert.equal(docker.status, 201)
    assert.equal(agent.calls[1]?.body && (agent.calls[1].body as DeployToolBody).dockerImageUrl, 'default-mcp-server:latest', "the catalog's image when the override names none")
    const row = (await world.standIn.row('account_tool_instances', docker.body.id))
    assert.deepEqual(row?.base_config_override_json, { Env: ['TOKEN=t'], portMappings: [{ containerPort: 8080, hostPort: 30001, protocol: 'tcp' }] })
    assert.deepEqual(docker.body.environment_variable_keys, ['TOKEN'])
  } finally {
    await world.close()
  }
})

Deno.test('a second instance of a catalog tool on a toolbox is a 409 that names the holder and what to do', async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const first = await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world, 'First MCP'))
    assert.equal(first.status, 201)
    const second = await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world, 'Second MCP'))
    assert.equal(second.status, 409)
    assert.equal(second.body.code, 'DTMA_CONFLICT')
    assert.match(second.body.error, new RegExp(`'First MCP' \\(id ${first.body.id}, running\\)`))
    assert.match(second.body.error, new RegExp(`DELETE toolbox-tools/${world.toolboxId}/tools/${first.body.id}`))
    const sameName = await call('POST', `/${world.toolboxId}/tools`, { toolCatalogId: world.catalogId, instanceNameOnToolbox: 'First MCP' })
    assert.equal(sameName.status, 409)
    assert.match(sameName.body.error, /choose another instanceNameOnToolbox/)
    assert.equal(agent.calls.length, 1, 'refused before the agent is called')
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 1)
    // The same catalog tool on another toolbox of the user is fine.
    const other = String((await world.standIn.seed('account_tool_environments', { user_id: world.userId, public_ip_address: '127.0.0.2', status: 'active' })).id)
    assert.equal((await call('POST', `/${other}/tools`, adminDeployBody(world, 'First MCP'))).status, 201)
  } finally {
    await world.close()
  }
})

Deno.test("an agent failure reaches the caller with the agent's reason and the row says error", async () => {
  const { world, call } = await toolboxTools(() => agentReplies.error(502, 'DTMA_DOCKER_ERROR', 'Docker failed: no space left on device'))
  try {
    const reply = await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world))
    assert.equal(reply.status, 502)
    assert.deepEqual(reply.body, { success: false, error: 'Docker failed: no space left on device', code: 'DTMA_DOCKER_ERROR' })
    const row = (await world.standIn.rows('account_tool_instances'))[0]
    assert.equal(row?.status_on_toolbox, 'error')
    assert.equal(row?.instance_error_message, 'Docker failed: no space left on device')
    assert.deepEqual(await world.standIn.statusHistory(String(row?.id)), ['deploying', 'error'])
  } finally {
    await world.close()
  }
})

Deno.test('an agent that does not answer times out instead of hanging', async () => {
  let hang = false
  const { world, call } = await toolboxTools((c) => (hang ? 'hang' : happyAgent(c)))
  try {
    const id = (await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world))).body.id
    hang = true
    const started = Date.now()
    const reply = await call('POST', `/${world.toolboxId}/tools/${id}/stop`)
    assert.ok(Date.now() - started < 2000)
    assert.equal(reply.status, 504)
    assert.equal(reply.body.code, 'DTMA_AGENT_TIMEOUT')
    assert.deepEqual(await world.standIn.statusHistory(id), ['deploying', 'running', 'stopping', 'error'])
    assert.ok(!JSON.stringify(reply.body).includes(AGENT_TOKEN))
  } finally {
    await world.close()
  }
})

Deno.test('a 404 from start re-deploys with the stored override, asking for the ports bound before, and starts once', async () => {
  let lost = false
  const { world, call, agent } = await toolboxTools((c) => {
    if (lost && c.path.endsWith('/start')) {
      lost = false
      return agentReplies.error(404, 'DTMA_NOT_FOUND', `Tool instance '${NAME}' not found or not managed by this DTMA.`)
    }
    return happyAgent(c)
  })
  try {
    const deployed = await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world, NAME, { TOKEN: 't' }))
    lost = true
    const before = agent.calls.length
    const reply = await call('POST', `/${world.toolboxId}/tools/${deployed.body.id}/start`)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.data.status_on_toolbox, 'running')
    const calls = agent.calls.slice(before)
    assert.deepEqual(calls.map((c) => `${c.method} ${c.path}`), [`POST /tools/${NAME}/start`, 'POST /tools', `POST /tools/${NAME}/start`])
    assert.deepEqual(calls[1]?.body, {
      dockerImageUrl: 'dtma-test/busybox:v1',
      instanceNameOnToolbox: NAME,
      accountToolInstanceId: deployed.body.id,
      baseConfigOverrideJson: { dockerImage: 'dtma-test/busybox:v1', environmentVariables: { TOKEN: 't' }, portMappings: [{ containerPort: 8080, hostPort: 30001, protocol: 'tcp' }] }
    })
  } finally {
    await world.close()
  }
})

Deno.test('a row written by the earlier version of this function is re-deployed in service shape', async () => {
  let lost = true
  const { world, call, agent } = await toolboxTools((c) => {
    if (lost && c.path.endsWith('/start')) {
      lost = false
      return agentReplies.error(404, 'DTMA_NOT_FOUND', 'gone')
    }
    return happyAgent(c)
  })
  try {
    const row = await world.standIn.seed('account_tool_instances', {
      account_tool_environment_id: world.toolboxId,
      tool_catalog_id: world.catalogId,
      instance_name_on_toolbox: 'legacy',
      status_on_toolbox: 'stopped',
      docker_image_url: 'dtma-test/busybox:v1',
      base_config_override_json: { dockerImage: 'dtma-test/busybox:v1', containerPort: 9000, hostPort: 30002, environmentVariables: { TOKEN: 't' } }
    })
    const listed = await call('GET', `/${world.toolboxId}/tools`)
    assert.deepEqual(listed.body[0].ports, [{ container_port: 9000, host_port: 30002, protocol: 'tcp' }])
    assert.deepEqual(listed.body[0].environment_variable_keys, ['TOKEN'])
    const reply = await call('POST', `/${world.toolboxId}/tools/${row.id}/start`)
    assert.equal(reply.status, 200, JSON.stringify(reply.body))
    assert.deepEqual((agent.calls[1]?.body as DeployToolBody).baseConfigOverrideJson, {
      dockerImage: 'dtma-test/busybox:v1',
      environmentVariables: { TOKEN: 't' },
      portMappings: [{ containerPort: 9000, hostPort: 30002 }]
    })
    assert.deepEqual((await world.standIn.row('account_tool_instances', String(row.id)))?.base_config_override_json, {
      dockerImage: 'dtma-test/busybox:v1',
      environmentVariables: { TOKEN: 't' },
      portMappings: [{ containerPort: 9000, hostPort: 30002, protocol: 'tcp' }]
    })
  } finally {
    await world.close()
  }
})

Deno.test('stop, restart and delete move the row through their statuses; a removed instance is then unknown', async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const id = (await call('POST', `/${world.toolboxId}/tools`, adminDeployBody(world))).body.id
    const stopped = await call('POST', `/${world.toolboxId}/tools/${id}/stop`)
    assert.equal(stopped.body.status, 'stopped')
    assert.equal(stopped.body.data.status_on_toolbox, 'stopped')
    assert.equal((await call('POST', `/${world.toolboxId}/tools/${id}/restart`)).body.data.status_on_toolbox, 'running')
    const removed = await call('DELETE', `/${world.toolboxId}/tools/${id}`)
    assert.equal(removed.status, 200)
    assert.equal(removed.body.message, `Tool instance '${NAME}' removed.`)
    assert.deepEqual(await world.standIn.statusHistory(id), ['deploying', 'running', 'stopping', 'stopped', 'starting', 'running', 'pending_delete'])
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 0)
    assert.deepEqual(agent.calls.slice(1).map((c) => `${c.method} ${c.path}`), [`POST /tools/${NAME}/stop`, `POST /tools/${NAME}/restart`, `DELETE /tools/${NAME}`])
    const again = await call('POST', `/${world.toolboxId}/tools/${id}/start`)
    assert.equal(again.status, 404)
    assert.match(again.body.error, /give its account_tool_instances id, or a container id or instance name/)
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('a bad deploy body is 400, names the field, and writes nothing; an unknown catalog tool is 404', async () => {
  const { world, call, agent } = await toolboxTools(happyAgent)
  try {
    const reply = await call('POST', `/${world.toolboxId}/tools`, { toolCatalogId: world.catalogId, instanceNameOnToolbox: 'a/b', baseConfigOverrideJson: { environmentVariables: { 'BAD-KEY': 'secret-1' } } })
    assert.equal(reply.status, 400)
    assert.equal(reply.body.code, 'DTMA_BAD_REQUEST')
    assert.match(reply.body.error, /instanceNameOnToolbox/)
    assert.ok(!reply.body.error.includes('secret-1'))
    const image = await call('POST', `/${world.toolboxId}/tools`, { toolCatalogId: world.catalogId, instanceNameOnToolbox: 'a', baseConfigOverrideJson: { dockerImage: 'Not An Image' } })
    assert.equal(image.status, 400)
    assert.match(image.body.error, /baseConfigOverrideJson\/dockerImage/)
    const catalog = await call('POST', `/${world.toolboxId}/tools`, { toolCatalogId: 'context7', instanceNameOnToolbox: 'a' })
    assert.equal(catalog.status, 404)
    assert.equal(catalog.body.error, "Catalog tool 'context7' not found")
    assert.equal((await world.standIn.rows('account_tool_instances')).length, 0)
    assert.equal(agent.calls.length, 0)
    assert.equal((await call('PUT', `/${world.toolboxId}/tools`)).status, 404)
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('an instance the agent reports is also found by its container id', async () => {
  const { world, call } = await toolboxTools((c) => {
    if (c.method === 'GET' && c.path === '/tools') return agentReplies.list([toolInstance({ account_tool_instance_id: '', instance_name_on_toolbox: 'adopted', status: 'running', container_id: 'ab12cd34ef56' + '0'.repeat(52) })])
    return happyAgent(c)
  })
  try {
    const reply = await call('POST', `/${world.toolboxId}/tools/ab12cd34ef56/stop`)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.status, 'stopped')
    assert.equal(reply.body.data, null, 'no row: nothing written')
    assert.equal(world.standIn.requests.filter((r) => r.method === 'PATCH').length, 0)
  } finally {
    await world.close()
  }
})
