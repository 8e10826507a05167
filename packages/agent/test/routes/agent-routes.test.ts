// The routes about the agent itself, as the DTMA console uses them:
// GET /system (metrics, the Docker engine as `docker version` and `docker
// info` tell it), GET /logs (the agent's own lines, redacted; tail and
// follow). POST /restart and /redeploy are in the callers suite and the
// conformance test.
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { authHeaders, startTestAgent, TOKEN, uniqueName } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

t.test('GET /system: the system metrics, the Docker engine and the agent', async (t) => {
  const agent = await startTestAgent(t)
  t.equal((await agent.client.deployTool({ body: agent.deployBody(uniqueName('System')) })).status, 201)
  const reply = await agent.client.system()
  if (reply.status !== 200) return t.fail(`status ${reply.status}`)
  const engine = JSON.parse(execFileSync('docker', ['version', '--format', '{{json .Server}}'], { encoding: 'utf8' })) as { Version: string; ApiVersion: string }
  t.match(reply.body, {
    cpu_load_percent: Number,
    memory: { total_bytes: Number, free_bytes: Number, used_bytes: Number, active_bytes: Number },
    disk: { mount: '/', total_bytes: Number, used_bytes: Number, free_bytes: Number },
    uptime_seconds: Number,
    docker: { available: true, version: engine.Version, api_version: engine.ApiVersion, managed_instances: 1 },
    agent: { version: agent.config.version, rss_bytes: Number }
  })
  const docker = reply.body.docker
  if (docker?.available === true) t.ok(docker.containers.running >= 1 && docker.containers.total >= docker.containers.running, 'container counts from the engine')

  // The default, DTMA_PUBLIC_STATUS=minimal: the machine without the engine or the agent.
  const anonymous = await fetch(`${agent.baseUrl}/system`).then((r) => r.json())
  t.comment(`without a token: expected the machine's metrics only; seen ${Object.keys(anonymous).sort().join(' ')}`)
  t.same(Object.keys(anonymous).sort(), ['cpu_load_percent', 'disk', 'load_average', 'memory', 'timestamp', 'uptime_seconds'], 'minimal without a token: the machine only')
  const full = await startTestAgent(t, { env: { DTMA_PUBLIC_STATUS: 'full' } })
  t.match(await fetch(`${full.baseUrl}/system`).then((r) => r.json()), { memory: Object, docker: { available: true }, agent: Object }, 'full without a token: everything')
})

t.test('GET /logs: recent lines, redacted, and followed as they come', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Logged')
  const secret = `sk-log-secret-${Date.now()}`
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name, { env: [`API_KEY=${secret}`] }) })).status, 201)

  const reply = await agent.client.agentLogs({ query: { tail: 1000 } })
  if (reply.status !== 200 || 'response' in reply) return t.fail('expected the JSON answer')
  t.ok(reply.body.logs.length > 0 && reply.body.logs.length <= 1000)
  t.ok(reply.body.logs.every((line) => typeof JSON.parse(line).level === 'number'), 'each line is a JSON log record')
  t.ok(reply.body.logs.some((line) => line.includes('tool deployed') && line.includes(name)), 'the deploy is there')
  const text = reply.body.logs.join('\n')
  t.notMatch(text, new RegExp(secret), 'no env value')
  t.notMatch(text, new RegExp(TOKEN), 'no token')
  const three = await agent.client.agentLogs({ query: { tail: 3 } })
  t.equal(three.status === 200 && !('response' in three) ? three.body.logs.length : -1, 3, 'tail is honoured')

  const controller = new AbortController()
  const followed = await agent.client.agentLogs({ query: { follow: true, tail: 0 }, signal: controller.signal })
  if (followed.status !== 200 || !('response' in followed)) return t.fail('expected a stream')
  t.match(followed.response.headers.get('content-type'), /^text\/plain/)
  const lines: string[] = []
  const reader = (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of followed.response.body as unknown as AsyncIterable<Uint8Array>) lines.push(...decoder.decode(chunk).split('\n').filter(Boolean))
  })().catch(() => undefined)
  const stopped = uniqueName('Followed')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(stopped) })).status, 201)
  t.ok(await waitFor(() => (lines.some((line) => line.includes('tool deployed') && line.includes(stopped)) ? true : undefined), 5000), 'a new line reaches the follower')
  controller.abort()
  await reader
})
