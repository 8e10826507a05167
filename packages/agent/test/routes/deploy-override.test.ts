// baseConfigOverrideJson as Agentopia's services store and send it: null,
// Docker-shaped, service-shaped and mixed. Checked against what Docker
// really runs (docker inspect), what the agent reports, and what it refuses.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { docker, startTestAgent, TEST_IMAGE, TOKEN, uniqueName } from '../helpers/agent.ts'

const json = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }

async function deploy(baseUrl: string, body: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}/tools`, { method: 'POST', headers: json, body: JSON.stringify(body) })
  return { status: response.status, body: await response.json() }
}

function deployBody(name: string, override: unknown): Record<string, unknown> {
  return { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: `ati-${randomBytes(6).toString('hex')}`, baseConfigOverrideJson: override }
}

async function containerOf(containerId: string) {
  return docker.getContainer(containerId).inspect()
}

t.test('a null or absent override deploys with no env and no ports', async (t) => {
  const agent = await startTestAgent(t)
  for (const override of [null, undefined]) {
    const name = uniqueName('No Override')
    agent.deployBody(name) // registers the name for cleanup
    const reply = await deploy(agent.baseUrl, deployBody(name, override))
    t.equal(reply.status, 201, `override ${String(override)}: ${JSON.stringify(reply.body)}`)
    t.same(reply.body.data.ports, [])
    t.equal(reply.body.warnings, undefined, 'nothing to warn about')
    t.equal(reply.body.data.mcp, null)
  }
})

t.test('service-shaped and Docker-shaped keys are merged, applied and reported', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31400-31449' } })
  const name = uniqueName('Mixed Override')
  agent.deployBody(name)
  const override = {
    Env: ['MODE=docker', 'SHARED=from-env'],
    HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '' }] } },
    dockerImage: 'default-mcp-server:latest',
    environmentVariables: { API_KEY: 'sk-service-secret', SHARED: 'from-service', RETRIES: 3, VERBOSE: true },
    portMappings: [{ containerPort: 9090, hostPort: 0 }, { containerPort: '8080' }],
    mcpTransport: 'http',
    mcpEndpoint: '/mcp',
    mcpCapabilities: ['tools', 'resources'],
    resourceLimits: { memory: '256Mi', cpu: '0.5', storage: '1Gi' },
    templateId: 'tmpl-1',
    environment: 'development',
    configuration: { apiToken: 'config-secret-value' },
    scaling: { replicas: 1 }
  }
  const reply = await deploy(agent.baseUrl, deployBody(name, override))
  t.equal(reply.status, 201, JSON.stringify(reply.body))
  const data = reply.body.data

  const inspected = await containerOf(data.container_id)
  t.same(inspected.Config.Env.filter((entry: string) => /^(MODE|SHARED|API_KEY|RETRIES|VERBOSE)=/.test(entry)).sort(), ['API_KEY=sk-service-secret', 'MODE=docker', 'RETRIES=3', 'SHARED=from-env', 'VERBOSE=true'], 'both env shapes reach the container; Env wins a clash')
  t.equal(inspected.HostConfig.Memory, 256 * 1024 * 1024, 'memory limit applied')
  t.equal(inspected.HostConfig.NanoCpus, 0.5e9, 'cpu limit applied')
  const bound = Object.entries(inspected.HostConfig.PortBindings ?? {}).map(([key, bindings]) => `${key}>${(bindings as Array<{ HostPort: string }>)[0]?.HostPort}`).sort()
  t.same(bound, ['8080/tcp>31400', '9090/tcp>31401'], 'portMappings and PortBindings merged; "" and 0 take range ports, 8080 asked twice is bound once')
  t.same(data.ports.map((p: any) => [p.container_port, p.host_port, p.private_port, p.public_port, p.type]).sort(), [[8080, 31400, 8080, 31400, 'tcp'], [9090, 31401, 9090, 31401, 'tcp']])

  t.match(data.mcp, { transport: 'http', endpoint: '/mcp', port: 8080, capabilities: ['tools', 'resources'], url_path: `/tools/${encodeURIComponent(name)}/mcp`, status: 'starting' }, 'mcp port defaults to the first container port asked')
  t.same(data.limits, { memory_bytes: 256 * 1024 * 1024, cpus: 0.5, pids: agent.config.tool.pidsLimit })
  const warnings: string[] = reply.body.warnings
  t.ok(warnings.some((w) => /dockerImage "default-mcp-server:latest" differs from dockerImageUrl/.test(w)), 'the differing dockerImage is named')
  t.ok(warnings.some((w) => /environment variable SHARED is set in both/.test(w)), 'the env clash is named')
  t.ok(warnings.some((w) => /resourceLimits.storage is not applied/.test(w)), 'storage is named as not applied')
  t.ok(warnings.some((w) => /baseConfigOverrideJson: scaling is not a setting DTMA knows: ignored/.test(w)), 'the unknown key is named')
  t.notMatch(JSON.stringify(reply.body), /sk-service-secret|from-service|config-secret-value/, 'no env value or configuration in the answer')

  t.match(inspected.Config.Labels, { 'dtma.mcp-transport': 'http', 'dtma.mcp-endpoint': '/mcp', 'dtma.mcp-port': '8080', 'dtma.mcp-capabilities': 'tools,resources' })
  t.notMatch(JSON.stringify(inspected.Config.Labels), /config-secret-value|tmpl-1|development/, 'metadata is never on a label')
  t.equal(agent.store.get(name)?.spec.metadata?.templateId, 'tmpl-1', 'metadata is kept in the store')

  const listed = await agent.client.getTool({ params: { name } })
  t.match(listed, { status: 200, body: { data: { mcp: { transport: 'http', endpoint: '/mcp', port: 8080, capabilities: ['tools', 'resources'] }, limits: data.limits, ports: data.ports } } }, 'reported by GET /tools/{name} too')
  t.notMatch(agent.logs.join('\n'), /sk-service-secret|config-secret-value/, 'no secret in the log')
})

t.test('limits above the maxima are lowered and the answer says so', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_MEMORY_MB: '128', DTMA_TOOL_CPUS: '0.5', DTMA_TOOL_PIDS_LIMIT: '64' } })
  const name = uniqueName('Greedy Limits')
  agent.deployBody(name)
  const reply = await deploy(agent.baseUrl, deployBody(name, { resourceLimits: { memory: '2g', cpus: 4, pids: 100000 } }))
  t.equal(reply.status, 201, JSON.stringify(reply.body))
  const inspected = await containerOf(reply.body.data.container_id)
  t.same([inspected.HostConfig.Memory, inspected.HostConfig.NanoCpus, inspected.HostConfig.PidsLimit], [128 * 1024 * 1024, 0.5e9, 64])
  t.same(reply.body.data.limits, { memory_bytes: 128 * 1024 * 1024, cpus: 0.5, pids: 64 })
  t.equal(reply.body.warnings.filter((w: string) => /above this agent's maximum/.test(w)).length, 3, 'each lowered limit is named')

  const tiny = await deploy(agent.baseUrl, deployBody(uniqueName('Tiny'), { resourceLimits: { memory: 512 } }))
  t.match(tiny, { status: 400, body: { error: /resourceLimits.memory: 512 is less than Docker's minimum of 6 MiB; give a unit/ } })
})

t.test('Docker fields that would widen the sandbox are refused, naming the field', async (t) => {
  const agent = await startTestAgent(t)
  const cases: Array<[unknown, RegExp]> = [
    [{ Privileged: true }, /baseConfigOverrideJson.Privileged: DTMA does not let a caller set this Docker field/],
    [{ Cmd: ['sh'] }, /baseConfigOverrideJson.Cmd: DTMA does not let a caller set this Docker field/],
    [{ User: 'root', environmentVariables: { A: 'b' } }, /baseConfigOverrideJson.User/],
    [{ HostConfig: { Binds: ['/:/host'] } }, /unknown field 'Binds'/],
    [{ HostConfig: { PortBindings: {}, NetworkMode: 'host' } }, /unknown field 'NetworkMode'/],
    [{ HostConfig: { CapAdd: ['SYS_ADMIN'] } }, /unknown field 'CapAdd'/],
    [{ mcpTransport: 'websocket' }, /mcpTransport/],
    [{ portMappings: [{ containerPort: 0 }] }, /portMappings.0.containerPort must be >= 1, or must be string/],
    [{ portMappings: [{ containerPort: '0' }] }, /portMappings\[0\]: container port must be between 1 and 65535/],
    [{ portMappings: [{ containerPort: 8080, hostPort: '70000' }] }, /portMappings\[0\]: host port must be between 0 and 65535/],
    [{ environmentVariables: { 'BAD KEY': 'x' } }, /environmentVariables/]
  ]
  for (const [override, pattern] of cases) {
    const name = uniqueName('Refused')
    const reply = await deploy(agent.baseUrl, deployBody(name, override))
    t.equal(reply.status, 400, `${JSON.stringify(override)} -> 400`)
    t.match(reply.body, { success: false, code: 'DTMA_BAD_REQUEST', error: pattern })
    const made = await docker.listContainers({ all: true, filters: { label: [`dtma.instance-name=${name}`] } })
    t.equal(made.length, 0, 'and no container was made')
  }
})

t.test('an unknown key is logged once, however often callers send it', async (t) => {
  const agent = await startTestAgent(t)
  for (let i = 0; i < 3; i++) {
    const name = uniqueName('Habit')
    agent.deployBody(name)
    const reply = await deploy(agent.baseUrl, deployBody(name, { dockerImageHint: 'x', Env: ['A=1'] }))
    t.equal(reply.status, 201)
    t.match(reply.body.warnings, [/dockerImageHint is not a setting DTMA knows/])
  }
  const logged = agent.logs.filter((line) => line.includes('dockerImageHint'))
  t.equal(logged.length, 1, 'one log line for three deploys')
})

t.test('the same request again is the same deploy, whatever the override shape', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31450-31499' } })
  const name = uniqueName('Twice')
  agent.deployBody(name)
  // The agent's own port, as Agentopia's services ask for it: reassigned, and still the same deploy the second time.
  const body = deployBody(name, { environmentVariables: { A: '1' }, portMappings: [{ containerPort: 8080, hostPort: agent.port }], mcpTransport: 'stdio' })
  const first = await deploy(agent.baseUrl, body)
  const second = await deploy(agent.baseUrl, body)
  t.equal(first.status, 201)
  t.equal(second.status, 200, JSON.stringify(second.body))
  t.equal(second.body.data.container_id, first.body.data.container_id)
  t.same(second.body.data.ports, first.body.data.ports, 'the answer carries the ports it holds')
  t.equal(first.body.data.ports[0].host_port, 31450, 'the agent port was reassigned')
  const changed = await deploy(agent.baseUrl, { ...body, baseConfigOverrideJson: { environmentVariables: { A: '2' } } })
  t.equal(changed.status, 409, 'another spec under the name is a conflict')
})
