// A stranger on the internet, as the threat model has it: it scans the
// toolbox's public address and reads every route that answers without a
// token. With the defaults (DTMA_PUBLIC_STATUS=minimal) it must learn nothing
// about the tools: no instance names, container names or ids, images, host
// ports or env names, not even how many there are. Each public route of the
// contract table is read with no token and with a wrong one, the bearer
// routes and the MCP endpoint without a token, and the whole body is searched.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { routes } from '@dtma/contract'
import t, { type Test } from 'tap'
import { containerNameFor } from '../../src/instances/container-name.ts'
import { authHeaders, freePort, startTestAgent, TEST_IMAGE, type TestAgent } from '../helpers/agent.ts'

interface Planted {
  names: string[]
  image: string
  envName: string
  hostPorts: number[]
  containerIds: string[]
}

/** An image name no document of DTMA can contain: a tag of the test image made here. */
function uniqueImage(t: Test): string {
  const image = `dtma-test/stranger-${randomBytes(4).toString('hex')}:v1`
  execFileSync('docker', ['tag', TEST_IMAGE, image])
  t.teardown(() => execFileSync('docker', ['rmi', image], { stdio: 'ignore' }))
  return image
}

async function plant(t: Test, agent: TestAgent): Promise<Planted> {
  const suffix = randomBytes(4).toString('hex')
  const planted: Planted = { names: [`Secret Tool ${suffix}`, `Hidden Server ${suffix}`], image: uniqueImage(t), envName: `STRANGER_PROBE_${suffix.toUpperCase()}`, hostPorts: [], containerIds: [] }
  for (const name of planted.names) {
    const hostPort = await freePort()
    const reply = await agent.client.deployTool({ body: agent.deployBody(name, { image: planted.image, hostPort, env: [`${planted.envName}=value`] }) })
    if (reply.status !== 201) throw new Error(`deploy answered ${reply.status}`)
    planted.hostPorts.push(reply.body.data.ports[0]?.host_port ?? hostPort)
    planted.containerIds.push(reply.body.data.container_id)
  }
  return planted
}

/** What of the planted facts a body gives away. */
function leaks(body: string, planted: Planted): string[] {
  const found: string[] = []
  for (const name of planted.names) if (body.includes(name) || body.includes(encodeURIComponent(name))) found.push(`name ${name}`)
  for (const id of planted.containerIds) if (body.includes(id.slice(0, 12))) found.push(`container id ${id.slice(0, 12)}`)
  for (const name of planted.names) if (body.includes(containerNameFor(name))) found.push(`container name ${containerNameFor(name)}`)
  if (body.includes(planted.image)) found.push(`image ${planted.image}`)
  if (body.includes(planted.envName)) found.push(`env name ${planted.envName}`)
  for (const port of planted.hostPorts) if (new RegExp(`(?<![0-9])${port}(?![0-9])`).test(body)) found.push(`host port ${port}`)
  return found
}

const publicGets = Object.entries(routes).filter(([, route]) => route.auth === 'public' && route.method === 'GET' && !route.path.includes(':'))

t.test('with the defaults, no route answered without a valid token tells a stranger anything about the tools', async (t) => {
  const agent = await startTestAgent(t)
  const planted = await plant(t, agent)
  t.ok(publicGets.length >= 6, `public routes of the contract: ${publicGets.map(([, route]) => route.path).join(' ')}`)

  for (const [id, route] of publicGets) {
    for (const [who, headers] of [['no token', {}], ['a wrong token', authHeaders(`wrong-${randomBytes(16).toString('hex')}`)]] as const) {
      const response = await fetch(`${agent.baseUrl}${route.path}`, { headers })
      const body = await response.text()
      const seen = leaks(body, planted)
      // The protected resource metadata exists only with an authorization server (DTMA_JWKS_URL): none by default.
      const status = id === 'protectedResource' ? 404 : 200
      t.comment(`GET ${route.path} (${id}) with ${who}: expected status ${status} and no tool facts; seen ${response.status}, ${seen.length === 0 ? 'no tool facts' : seen.join(', ')}`)
      t.equal(response.status, status, `${route.path} answers ${who}`)
      t.same(seen, [], `${route.path} with ${who} leaks nothing about the tools`)
    }
  }

  // The same bodies with the token do carry the planted facts: the search can see them.
  const withToken = await (await fetch(`${agent.baseUrl}/status`, { headers: authHeaders() })).text()
  t.comment(`GET /status with the token: expected every planted fact; seen ${leaks(withToken, planted).join(', ')}`)
  t.ok(leaks(withToken, planted).length >= planted.names.length * 3 + 1, 'with the token /status names the instances, their containers, image and ports')

  const anonymous = await (await fetch(`${agent.baseUrl}/status`)).json()
  t.comment(`GET /status keys without a token: seen ${Object.keys(anonymous).sort().join(' ')}`)
  t.same(Object.keys(anonymous).sort(), ['commit', 'cpu_load_percent', 'dtma_version', 'environment', 'service', 'status', 'system_metrics', 'timestamp', 'tool_instances', 'tool_instances_hidden', 'uptime_seconds', 'version'])
  t.same(anonymous.tool_instances, [], 'tool_instances is an empty array, never absent (readers map over it)')
  t.equal(anonymous.tool_instances_hidden, true, 'and says it is hidden, not empty')
  t.match(anonymous.system_metrics, { cpu_load_percent: Number, memory: { total_bytes: Number }, disk: { mount: '/' } }, 'the console still gets its metrics')
  const system = await (await fetch(`${agent.baseUrl}/system`)).json()
  t.same(Object.keys(system).sort(), ['cpu_load_percent', 'disk', 'load_average', 'memory', 'timestamp', 'uptime_seconds'], '/system: the machine only, no engine counts')
  const ready = await (await fetch(`${agent.baseUrl}/health/ready`)).json()
  t.same(ready, { ready: true }, '/health/ready: ready, without the instance count')
  t.match(await (await fetch(`${agent.baseUrl}/health/ready`, { headers: authHeaders() })).json(), { ready: true, instances: 2 }, 'the count with the token')
})

t.test('routes that need a token answer a stranger the same whether a tool exists or not', async (t) => {
  const agent = await startTestAgent(t)
  const planted = await plant(t, agent)
  const [name] = planted.names as [string]
  const absent = `Absent Tool ${randomBytes(4).toString('hex')}`
  const paths = ['/tools', '/tools/status', '/metrics', '/events', '/logs', `/events?name=${encodeURIComponent(name)}`]
  for (const path of paths) {
    const response = await fetch(`${agent.baseUrl}${path}`)
    const body = await response.text()
    t.comment(`GET ${path} without a token: expected 401 and no tool facts; seen ${response.status}, ${leaks(body, planted).join(', ') || 'no tool facts'}`)
    t.equal(response.status, 401)
    t.same(leaks(body, planted), [])
  }
  for (const suffix of ['', '/mcp', '/capabilities', '/logs']) {
    const [known, unknown] = await Promise.all([name, absent].map(async (instance) => {
      const response = await fetch(`${agent.baseUrl}/tools/${encodeURIComponent(instance)}${suffix}`, { headers: { accept: 'application/json, text/event-stream' } })
      return `${response.status} ${(await response.text()).replaceAll(encodeURIComponent(instance), '<name>').replaceAll(instance, '<name>')}`
    }))
    t.comment(`GET /tools/<name>${suffix} without a token: expected the same answer for a deployed and an absent name; seen '${known}' and '${unknown}'`)
    t.equal(known, unknown, `/tools/<name>${suffix}: no existence oracle`)
    t.match(known, /^401 /)
  }
})

t.test('DTMA_PUBLIC_STATUS=full restores the old public answer', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_PUBLIC_STATUS: 'full' } })
  const planted = await plant(t, agent)
  const anonymous = await (await fetch(`${agent.baseUrl}/status`)).json()
  const names = anonymous.tool_instances.map((item: { instance_name_on_toolbox: string }) => item.instance_name_on_toolbox)
  t.comment(`GET /status without a token under full: expected ${planted.names.join(', ')}; seen ${names.join(', ')}`)
  for (const name of planted.names) t.ok(names.includes(name), `${name} is listed`)
  t.notOk('tool_instances_hidden' in anonymous)
  t.match(await (await fetch(`${agent.baseUrl}/system`)).json(), { docker: { available: true, managed_instances: 2 } }, '/system carries the engine again')
})
