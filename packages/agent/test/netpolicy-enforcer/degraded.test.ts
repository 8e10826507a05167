// A toolbox whose network policy cannot be installed says so and runs no
// tool unprotected; `off` is the operator's choice and said as such; a
// deploy's egress is checked entry by entry (a 400 naming the bad one).
import t from 'tap'
import { authHeaders, startTestAgent, type TestAgent } from '../helpers/agent.ts'

async function post(agent: TestAgent, path: string, body?: unknown) {
  const response = await fetch(`${agent.baseUrl}${path}`, {
    method: 'POST',
    headers: { ...authHeaders(), ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

async function status(agent: TestAgent, token = true) {
  return (await (await fetch(`${agent.baseUrl}/status`, { headers: token ? authHeaders() : {} })).json()) as Record<string, any>
}

t.test('no iptables program: degraded with the reason, deploys and starts refused with a 503', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_IPTABLES: '/nonexistent/iptables' } })
  const body = agent.deployBody(`np-degraded-${agent.port}`)
  const deploy = await post(agent, '/tools', body)
  t.comment(`deploy: expected 503 network_policy_unavailable, seen ${deploy.status} ${JSON.stringify(deploy.body)}`)
  t.equal(deploy.status, 503)
  t.equal(deploy.body.error, 'network_policy_unavailable')
  t.match(deploy.body.message, /iptables.*not found/)
  t.equal(agent.instances.list().length, 0, 'nothing was deployed')
  const start = await post(agent, `/tools/${body.instanceNameOnToolbox}/start`)
  t.equal(start.status, 503, 'a start is refused too')
  const seen = await status(agent)
  t.comment(`/status: ${seen.status}, ${seen.reason}; network_policy ${JSON.stringify(seen.network_policy)}`)
  t.equal(seen.status, 'degraded')
  t.match(seen.reason, /^network policy: .*not found/)
  t.match(seen.network_policy, { state: 'degraded', reason: /not found/, rules: 0, families: [] })
  const metrics = await (await fetch(`${agent.baseUrl}/metrics`, { headers: authHeaders() })).text()
  t.match(metrics, /^dtma_network_policy_enforced 0$/m)
})

t.test('off: the operator’s choice, reported as off, tools deployed', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_NETWORK_POLICY: 'off', DTMA_IPTABLES: '/nonexistent/iptables' } })
  const seen = await status(agent)
  t.equal(seen.status, 'healthy')
  t.match(seen.network_policy, { state: 'off', rules: 0 })
  const deploy = await post(agent, '/tools', agent.deployBody(`np-off-${agent.port}`))
  t.equal(deploy.status, 201)
})

t.test('bad egress values: a 400 naming the entry, nothing deployed', async (t) => {
  const agent = await startTestAgent(t)
  const cases: Array<[unknown, RegExp]> = [
    ['everything', /egress/],
    [{ allow: 'api.example.com:443' }, /egress/],
    [{ allow: ['api.example.com:443'], deny: [] }, /egress/],
    [{ allow: ['api.example.com'] }, /egress\.allow\[0\] "api\.example\.com": a port is required/],
    [{ allow: ['8.8.8.8:53', '169.254.169.254:80'] }, /egress\.allow\[1\] "169\.254\.169\.254:80": link-local/],
    [{ allow: ['[fe80::1]:80'] }, /egress\.allow\[0\] "\[fe80::1\]:80": link-local/],
    [{ allow: ['127.0.0.1:5432'] }, /loopback/],
    [{ allow: ['172.19.0.1:22'] }, /egress\.allow\[0\] "172\.19\.0\.1:22": the host's own addresses/],
    [{ allow: ['2001:db8::10:80'] }, /in brackets/],
    [{ allow: ['10.0.0.0/8:99999'] }, /1-65535/]
  ]
  for (const [egress, why] of cases) {
    const body = agent.deployBody(`np-bad-${agent.port}`)
    const answer = await post(agent, '/tools', { ...body, baseConfigOverrideJson: { ...body.baseConfigOverrideJson, egress } })
    t.comment(`egress ${JSON.stringify(egress)}: expected 400 ${why.source}, seen ${answer.status} ${answer.body.error}`)
    t.equal(answer.status, 400, JSON.stringify(egress))
    t.match(answer.body.error, why)
  }
  t.equal(agent.instances.list().length, 0)
})
