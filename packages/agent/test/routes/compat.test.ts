// The requests Agentopia's backend sends today (dtma-contract.md), as raw
// HTTP: exact paths, encoded and raw names, exact error sentences.
import { createServer } from 'node:net'
import t from 'tap'
import { authHeaders, docker, FLEET_KEY, fetchText, freePort, startTestAgent, TEST_IMAGE_V2, uniqueName } from '../helpers/agent.ts'

interface RawReply {
  status: number
  contentType: string
  body: any
  headers: Headers
}

async function send(baseUrl: string, method: string, path: string, options: { body?: string; headers?: Record<string, string> } = {}): Promise<RawReply> {
  const response = await fetch(baseUrl + path, { method, body: options.body, headers: options.headers })
  const contentType = response.headers.get('content-type') ?? ''
  const text = await response.text()
  return { status: response.status, contentType, body: contentType.includes('json') ? JSON.parse(text) : text, headers: response.headers }
}

const jsonAuth = { ...authHeaders(), 'content-type': 'application/json' }

t.test('the backend sequence with raw and percent-encoded names', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Context7')
  const hostPort = await freePort()
  const body = agent.deployBody(name, { hostPort })

  const deployed = await send(agent.baseUrl, 'POST', '/tools', { body: JSON.stringify(body), headers: jsonAuth })
  t.equal(deployed.status, 201)
  t.match(deployed.body, { success: true, message: String, data: { container_id: /^[0-9a-f]{64}$/, instance_name_on_toolbox: name, state: 'running' } })

  // Raw: the caller pastes the name into the URL as is (fetch encodes the spaces on the wire).
  const startRaw = await send(agent.baseUrl, 'POST', `/tools/${name}/start`, { headers: authHeaders() })
  t.same(startRaw.body, { success: true, message: `Tool instance '${name}' is already running.`, data: { state: 'running' } })
  const stopEncoded = await send(agent.baseUrl, 'POST', `/tools/${encodeURIComponent(name)}/stop`, { headers: authHeaders() })
  t.same(stopEncoded.body, { success: true, message: `Tool instance '${name}' stopped.`, data: { state: 'stopped' } })
  const startEncoded = await send(agent.baseUrl, 'POST', `/tools/${encodeURIComponent(name)}/start`, { headers: authHeaders() })
  t.equal(startEncoded.body.message, `Tool instance '${name}' started.`)
  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`), 'dtma-test-ok\n')

  const status = await send(agent.baseUrl, 'GET', '/tools/status', { headers: authHeaders() })
  t.equal(status.status, 200)
  const item = status.body.data.find((entry: { instance_name_on_toolbox: string }) => entry.instance_name_on_toolbox === name)
  // egress: what the tool may reach (added beside the earlier keys; the default 'internet').
  t.same(Object.keys(item).sort(), [
    'account_tool_instance_id', 'container_id', 'container_name', 'created', 'desired_state', 'docker_status', 'egress', 'health', 'image', 'instance_name_on_toolbox', 'limits', 'mcp', 'ports', 'status'
  ])
  t.equal(item.egress, 'internet')

  const removed = await send(agent.baseUrl, 'DELETE', `/tools/${name}`, { headers: authHeaders() })
  t.same(removed, { ...removed, status: 200, body: { success: true, message: `Tool instance '${name}' removed successfully.` } })
  const again = await send(agent.baseUrl, 'DELETE', `/tools/${encodeURIComponent(name)}`, { headers: authHeaders() })
  t.same([again.status, again.body], [404, { success: false, error: `Tool instance '${name}' not found or not managed by this DTMA.`, code: 'DTMA_NOT_FOUND' }])
})

t.test('public routes and authentication', async (t) => {
  const agent = await startTestAgent(t)
  const health = await send(agent.baseUrl, 'GET', '/health')
  t.same([health.status, health.body], [200, 'OK'])
  t.match(health.contentType, /^text\/plain/)

  const status = await send(agent.baseUrl, 'GET', '/status')
  t.equal(status.status, 200)
  t.match(status.body, {
    status: 'healthy',
    service: 'DTMA',
    version: String,
    dtma_version: String,
    timestamp: String,
    environment: { hasAuthToken: true, hasApiKey: true, hasApiBaseUrl: false, port: agent.port },
    system_metrics: { memory: { total_bytes: Number } },
    tool_instances: Array
  })

  const missing = { success: false, error: 'Unauthorized: Missing or invalid token format', code: 'DTMA_UNAUTHORIZED' }
  const malformed: Array<Record<string, string>> = [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer' }, { authorization: 'Bearer ' }]
  for (const headers of malformed) {
    const reply = await send(agent.baseUrl, 'GET', '/tools/status', { headers })
    t.same([reply.status, reply.body], [401, missing], `401 for ${JSON.stringify(headers)}`)
  }
  // A credential that proves nothing is a 401 now (the earlier agent said 403 Invalid token): callers read any non-2xx as a failure.
  const wrong = await send(agent.baseUrl, 'POST', '/tools/x/start', { headers: authHeaders('not-the-token') })
  t.match([wrong.status, wrong.body], [401, { success: false, error: /^Unauthorized: the bearer credential is not a token/, code: 'DTMA_UNAUTHORIZED' }])
  const fleetKey = await send(agent.baseUrl, 'GET', '/tools', { headers: authHeaders(FLEET_KEY) })
  t.equal(fleetKey.status, 200, 'the fleet key is accepted for what the deployed backend does')
  const vmToken = await send(agent.baseUrl, 'GET', '/tools', { headers: authHeaders(agent.config.vmToken ?? '') })
  t.match([vmToken.status, vmToken.body], [403, { error: /signing key, not a bearer token/ }], 'the per-VM secret is a signing key, no longer a bearer')
  const unknown = await send(agent.baseUrl, 'GET', '/nope')
  t.same([unknown.status, unknown.body], [404, { success: false, error: 'Not Found', code: 'DTMA_ROUTE_NOT_FOUND' }])
})

t.test('bad input is a clear 400 or 413 and touches nothing', async (t) => {
  const agent = await startTestAgent(t)
  const valid = agent.deployBody(uniqueName('Invalid'))
  const cases: Array<[string, string, Record<string, string>, number, RegExp]> = [
    ['malformed JSON', '{"dockerImageUrl": ', jsonAuth, 400, /not valid JSON/],
    ['missing fields', JSON.stringify({ dockerImageUrl: 'a/b:1' }), jsonAuth, 400, /missing required field 'instanceNameOnToolbox'/],
    ['wrong type', JSON.stringify({ ...valid, accountToolInstanceId: 42 }), jsonAuth, 400, /accountToolInstanceId/],
    ['invalid image', JSON.stringify({ ...valid, dockerImageUrl: 'UPPER/Case:tag' }), jsonAuth, 400, /dockerImageUrl/],
    ['control characters in the name', JSON.stringify({ ...valid, instanceNameOnToolbox: 'a\u0007b' }), jsonAuth, 400, /instanceNameOnToolbox/],
    ['slash in the name', JSON.stringify({ ...valid, instanceNameOnToolbox: '../etc' }), jsonAuth, 400, /instanceNameOnToolbox/],
    ['bad env entry', JSON.stringify({ ...valid, baseConfigOverrideJson: { Env: ['no equals sign'] } }), jsonAuth, 400, /Env/],
    ['privileged override', JSON.stringify({ ...valid, baseConfigOverrideJson: { HostConfig: { Privileged: true } } }), jsonAuth, 400, /unknown field 'Privileged'/],
    ['host mounts', JSON.stringify({ ...valid, baseConfigOverrideJson: { HostConfig: { Binds: ['/:/host'] } } }), jsonAuth, 400, /unknown field 'Binds'/],
    ['port out of range', JSON.stringify({ ...valid, baseConfigOverrideJson: { HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '70000' }] } } } }), jsonAuth, 400, /host port must be between 0 and 65535/],
    ['wrong content type', 'dockerImageUrl=a', { ...authHeaders(), 'content-type': 'application/x-www-form-urlencoded' }, 400, /content type/i],
    ['body too large', JSON.stringify({ ...valid, padding: 'x'.repeat(1024 * 1024 + 10) }), jsonAuth, 413, /too large/]
  ]
  for (const [label, body, headers, status, pattern] of cases) {
    const reply = await send(agent.baseUrl, 'POST', '/tools', { body, headers })
    t.equal(reply.status, status, `${label}: status`)
    t.equal(reply.body.success, false, `${label}: error body`)
    t.match(reply.body.error, pattern, `${label}: error names the problem`)
  }
  const encodedSlash = await send(agent.baseUrl, 'POST', '/tools/a%2Fb/start', { headers: authHeaders() })
  t.equal(encodedSlash.status, 400, 'an encoded slash in a name is refused')
  const list = await agent.client.listTools()
  t.equal(list.status === 200 && list.body.data.some((item) => item.instance_name_on_toolbox === valid.instanceNameOnToolbox), false, 'nothing was deployed')
})

t.test('conflicts: another spec under the same name; taken host ports are moved to a free one', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31600-31609' } })
  const name = uniqueName('Conflict')
  const hostPort = await freePort()
  const body = agent.deployBody(name, { hostPort })
  t.equal((await agent.client.deployTool({ body })).status, 201)

  const otherSpec = await agent.client.deployTool({ body: { ...body, dockerImageUrl: TEST_IMAGE_V2 } })
  t.match(otherSpec, { status: 409, body: { success: false, code: 'DTMA_CONFLICT', error: /already exists with a different spec/ } })

  const samePort = await agent.client.deployTool({ body: agent.deployBody(uniqueName('Second'), { hostPort }) })
  t.match(samePort, { status: 201, body: { message: new RegExp(`already used by tool instance '${name}': 8080/tcp is bound to 31600 instead`) } })

  const agentPort = await agent.client.deployTool({ body: agent.deployBody(uniqueName('Greedy'), { hostPort: agent.port }) })
  t.match(agentPort, { status: 201, body: { message: /the DTMA agent's own port: 8080\/tcp is bound to 31601 instead/ } })
})

t.test('a port held by another process: 409, no half-made container, and a retry works', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Blocked')
  const hostPort = await freePort()
  const squatter = createServer()
  await new Promise<void>((resolve) => squatter.listen(hostPort, '127.0.0.1', resolve))
  const body = agent.deployBody(name, { hostPort })

  const blocked = await agent.client.deployTool({ body })
  t.match(blocked, { status: 409, body: { code: 'DTMA_PORT_CONFLICT' } })
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${name}`] } })
  t.equal(leftovers.length, 0, 'the created-but-unstarted container was removed')
  t.equal(agent.store.get(name), undefined, 'and no desired state was kept')

  await new Promise<void>((resolve) => squatter.close(() => resolve()))
  const retried = await agent.client.deployTool({ body })
  t.equal(retried.status, 201, 'the retry under the same name deploys')
})
