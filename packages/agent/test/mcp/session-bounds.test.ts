// Sessions are bounded: one whose caller opened its stream and stopped
// reading, while its server talks without end, is ended before its backlog
// takes the agent's memory; one nobody used for DTMA_MCP_SESSION_IDLE_S is
// ended; either way a later request gets a 404 (start a new session).
import { readFileSync } from 'node:fs'
import t from 'tap'
import { freePort, removeInstances, tempDir, TOKEN, uniqueName } from '../helpers/agent.ts'
import { spawnAgent } from '../helpers/agent-process.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody, mcpUrl } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

const HEADERS = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
const INITIALIZE = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } })

/** A session opened by hand: initialize, then initialized; no stream. */
async function openSession(url: URL): Promise<string> {
  const opened = await fetch(url, { method: 'POST', headers: HEADERS, body: INITIALIZE })
  const id = opened.headers.get('mcp-session-id') ?? ''
  await opened.text()
  await fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })
  return id
}

const ping = (url: URL, id: string) => fetch(url, { method: 'POST', headers: { ...HEADERS, 'mcp-session-id': id }, body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }) }).then(async (r) => (await r.text(), r.status))

/** Open sessions of multiplexed servers, as /metrics counts them. */
async function bridgeSessions(client: ReturnType<typeof spawnAgent>['client']): Promise<number | undefined> {
  const metrics = await client.metrics()
  const value = /^dtma_mcp_bridge_sessions (\d+)$/m.exec(metrics.status === 200 ? String(metrics.body) : '')?.[1]
  return value === undefined ? undefined : Number(value)
}

const rssMb = (pid: number | undefined) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

/** An agent of its own with the chatty server (it talks without end) deployed and ready; the server's MCP URL. */
async function chattyAgent(t: Parameters<typeof tempDir>[0] & { equal(a: unknown, b: unknown): void }, env: Record<string, string>) {
  const agent = spawnAgent(tempDir(t), await freePort(), { LOG_LEVEL: 'warn', ...env })
  t.teardown(() => agent.kill())
  await agent.ready()
  const name = uniqueName('Chatty')
  t.teardown(() => removeInstances([name]))
  t.equal((await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.chatty, 'stdio'), waitForMcp: true } })).status, 201)
  return { agent, url: mcpUrl(agent.baseUrl, name) }
}

t.test('a session that does not read is ended; an idle one is ended', async (t) => {
  const { agent, url } = await chattyAgent(t, { DTMA_TOOL_PORT_RANGE: '43550-43599', DTMA_MCP_SESSION_IDLE_S: '3' })

  const stalled = await openSession(url)
  const rssBefore = rssMb(agent.child.pid)
  // The stream is opened and never read: the server's chatter piles up for it.
  const stream = await fetch(url, { headers: { ...HEADERS, accept: 'text/event-stream', 'mcp-session-id': stalled } })
  t.equal(stream.status, 200)
  t.teardown(() => stream.body?.cancel().catch(() => undefined))
  let rssPeak = rssBefore
  const ended = await waitFor(() => {
    rssPeak = Math.max(rssPeak, rssMb(agent.child.pid))
    return agent.output().includes('does not read what it is sent') ? true : undefined
  }, 30_000)
  t.ok(ended, 'the session that does not read is ended')
  t.equal(await ping(url, stalled), 404, 'and gone')
  t.ok(rssPeak - rssBefore < 100, `the agent's memory grew at most ${(rssPeak - rssBefore).toFixed(0)} MB (from ${rssBefore.toFixed(0)} MB), not without bound`)

  const idle = await openSession(url)
  t.equal(await ping(url, idle), 200, 'a session in use lives')
  // Pinged four times an idle period (3 s): a slow turn of the machine cannot make it look idle.
  const gone = await waitFor(async () => ((await ping(url, idle)) === 404 ? true : undefined), 10_000, 750)
  t.notOk(gone, 'pinged every 750 ms, it is never idle')
  const left = await openSession(url)
  const leftAt = Date.now()
  // Watched through the open sessions gauge, which does not touch the session (a ping would).
  const swept = await waitFor(async () => ((await bridgeSessions(agent.client)) === 0 ? true : undefined), 30_000, 250)
  const endedAfterS = (Date.now() - leftAt) / 1000
  t.ok(swept, 'left alone past DTMA_MCP_SESSION_IDLE_S, it is ended')
  t.comment(`the session left alone was ended after ${endedAfterS.toFixed(1)} s (idle limit 3 s, swept every 3 s)`)
  t.ok(endedAfterS >= 2.5, `not at once, but after the idle limit (${endedAfterS.toFixed(1)} s)`)
  t.equal(await ping(url, left), 404, 'and gone')
})

t.test('a caller that reads its stream gets the server’s messages for no request and keeps its session; one stream a session; DELETE ends it', async (t) => {
  const { agent, url } = await chattyAgent(t, { DTMA_TOOL_PORT_RANGE: '43600-43649' })
  const session = await openSession(url)
  const inSession = { ...HEADERS, accept: 'text/event-stream', 'mcp-session-id': session }
  const stream = await fetch(url, { headers: inSession })
  t.equal(stream.status, 200)
  t.match(stream.headers.get('content-type'), /^text\/event-stream/)
  t.equal(stream.headers.get('mcp-session-id'), session)
  const reader = stream.body!.getReader()
  t.teardown(() => reader.cancel().catch(() => undefined))
  // Read 4 MB of the server's chatter as it comes: a caller that reads is never held to the bound.
  const decoder = new TextDecoder()
  let text = ''
  let bytes = 0
  while (bytes < 4 * 1024 * 1024) {
    const { value, done } = await reader.read()
    if (done) break
    bytes += value.length
    if (text.length < 8192) text += decoder.decode(value, { stream: true })
  }
  const first = /^event: message\ndata: (.*)\n\n/m.exec(text)?.[1]
  t.comment(`read ${(bytes / 1024 / 1024).toFixed(1)} MB; first event: ${first?.slice(0, 80)}…`)
  t.ok(bytes >= 4 * 1024 * 1024, 'the stream carried 4 MB')
  t.match(JSON.parse(first ?? '{}'), { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info' } }, 'as server-sent events of JSON-RPC messages')
  t.equal(await ping(url, session), 200, 'the session that reads lives')
  t.notOk(agent.output().includes('does not read what it is sent'), 'and was never taken for one that does not read')
  const second = await fetch(url, { headers: inSession })
  const refused = (await second.json()) as { jsonrpc?: string; error?: { code: number; message: string } }
  t.comment(`a second stream: expected 409 with a JSON-RPC error, seen ${second.status} ${JSON.stringify(refused)}`)
  t.equal(second.status, 409, 'a second stream of the same session is refused')
  t.match(refused, { jsonrpc: '2.0', error: { message: /stream open already/ } })
  const ended = await fetch(url, { method: 'DELETE', headers: inSession })
  t.equal(ended.status, 200, 'DELETE ends the session')
  const closed = await waitFor(async () => ((await reader.read()).done ? true : undefined), 10_000, 0)
  t.ok(closed, 'and its stream ends')
  t.equal(await ping(url, session), 404, 'the session is gone')
})
