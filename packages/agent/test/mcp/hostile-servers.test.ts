// Hostile MCP servers beside a good one: one floods stdout without end (huge
// lines and thousands of messages a second), one answers everything with
// garbage, one never answers. None may hurt the agent or the other
// instances: the good server keeps answering through the agent promptly,
// the API stays fast, memory stays bounded, garbage is dropped, counted and
// logged at most once a minute, and a caller of a hostile server gets an error, not
// a hang. None of the hostile servers is ever reported ready.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { startTestAgent, uniqueName } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES, mcpClient, mcpDeployBody, textOf } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

// What the agent holds, not the garbage a flood leaves until the next
// collection: the resident set is read after a full garbage collection.
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void
const rssAfterGc = (): number => {
  collectGarbage()
  return process.memoryUsage().rss
}

t.test('a flooding, a garbage-writing and a silent server cannot hurt the agent or a good server', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '43400-43449', DTMA_MCP_PING_INTERVAL_S: '1', DTMA_MCP_START_TIMEOUT_S: '4', DTMA_MCP_MAX_MESSAGE_BYTES: '65536' } })
  const good = uniqueName('Good')
  const hostile = { flood: uniqueName('Flood'), garbage: uniqueName('Garbage'), silent: uniqueName('Silent') }
  for (const name of [good, ...Object.values(hostile)]) agent.deployBody(name)
  t.equal((await agent.client.deployTool({ body: { ...mcpDeployBody(good, MCP_IMAGES.toolsV1, 'stdio'), waitForMcp: true } })).status, 201)
  const rssBefore = rssAfterGc()
  for (const [kind, name] of Object.entries(hostile)) {
    t.equal((await agent.client.deployTool({ body: mcpDeployBody(name, MCP_IMAGES[kind as keyof typeof hostile], 'stdio') })).status, 201, `${kind} deployed`)
  }

  const client = await mcpClient(agent.baseUrl, good)
  t.teardown(() => client.close())
  const droppedSoFar = async () => {
    const metrics = await agent.client.metrics()
    const text = metrics.status === 200 ? String(metrics.body) : ''
    return [...text.matchAll(/dtma_mcp_dropped_total\{reason="[^"]+"\} (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0)
  }
  const droppedBefore = await droppedSoFar()
  // How long the calls took is a figure, not a check (timing goals live in the benchmarks): the checks are that every
  // call and every /status was answered, rightly, while the hostile servers wrote what the agent had to drop.
  const slowest = { call: 0, status: 0 }
  const wrong: string[] = []
  const statuses = new Set<number>()
  let calls = 0
  const until = Date.now() + 8000
  for (let i = 0; Date.now() < until; i++) {
    let started = performance.now()
    const text = textOf(await client.callTool({ name: 'echo', arguments: { text: `call ${i}` } }))
    slowest.call = Math.max(slowest.call, performance.now() - started)
    calls++
    if (text !== `call ${i}`) wrong.push(`${i}: ${text}`)
    started = performance.now()
    statuses.add((await agent.client.status()).status)
    slowest.status = Math.max(slowest.status, performance.now() - started)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const droppedDuring = (await droppedSoFar()) - droppedBefore
  t.comment(`${calls} calls; slowest call through the agent ${slowest.call.toFixed(1)} ms, slowest GET /status ${slowest.status.toFixed(1)} ms; ${droppedDuring} hostile lines dropped meanwhile`)
  t.same(wrong, [], 'the good server answered every call rightly')
  t.ok(calls > 0, 'calls were made')
  t.same([...statuses], [200], 'every GET /status answered 200')
  t.ok(droppedDuring > 0, 'while the hostile servers wrote what the agent dropped')
  const grown = (rssAfterGc() - rssBefore) / 1024 / 1024
  t.ok(grown < 150, `memory grew ${grown.toFixed(0)} MB`)

  for (const [kind, name] of Object.entries(hostile)) t.not(agent.instances.get(name).mcp?.health.status, 'ready', `${kind}: never ready`)
  t.equal(agent.instances.get(good).mcp?.health.status, 'ready', 'the good server: ready')

  for (const [kind, name] of [['silent', hostile.silent], ['garbage', hostile.garbage]] as const) {
    const started = Date.now()
    await t.rejects(mcpClient(agent.baseUrl, name).then((c) => c.listTools({}, { timeout: 10_000 })), /did not finish starting|not connected|does not read|timed out/i, `a caller of the ${kind} server gets an error`)
    t.ok(Date.now() - started < 12_000, `${kind}: within the start timeout, not a hang`)
  }

  const metrics = await agent.client.metrics()
  const text = metrics.status === 200 ? String(metrics.body) : ''
  const dropped = (reason: string) => Number(new RegExp(`dtma_mcp_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0)
  t.ok(dropped('too-long') > 0, `lines over the limit dropped: ${dropped('too-long')}`)
  t.ok(dropped('not-json') > 0, `non-JSON lines dropped: ${dropped('not-json')}`)
  const warned = agent.logs.filter((line) => line.includes('writes what is not JSON-RPC')).length
  t.ok(warned >= 1 && warned <= 2, `logged at most once a minute per server: ${warned} lines for ${dropped('too-long') + dropped('not-json') + dropped('not-json-rpc')} drops`)
  t.equal((await fetch(`${agent.baseUrl}/health`)).status, 200, 'the agent is fine')
})
