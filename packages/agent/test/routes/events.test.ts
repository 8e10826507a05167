// GET /events against a real agent: a client subscribes, deploys, stops and
// removes, and watches every step arrive as server-sent events without
// polling. Env values never appear in the stream. The number of streams is
// capped.
import { InstanceEvent, readServerSentEvents, type ServerSentEvent } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { authHeaders, startTestAgent, uniqueName } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

/** Collects events from an open stream in the background. */
function collect(response: Response): { events: ServerSentEvent[]; until(match: (event: ServerSentEvent) => boolean, timeoutMs?: number): Promise<ServerSentEvent> } {
  const events: ServerSentEvent[] = []
  const waiters: Array<() => void> = []
  void (async () => {
    try {
      for await (const event of readServerSentEvents(response)) {
        events.push(event)
        for (const wake of waiters.splice(0)) wake()
      }
    } catch {
      // aborted by the test
    }
  })()
  return {
    events,
    async until(match, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = events.find(match)
        if (found) return found
        if (Date.now() > deadline) throw new Error(`no matching event among ${events.length}`)
        await new Promise<void>((resolve) => {
          waiters.push(resolve)
          setTimeout(resolve, 200)
        })
      }
    }
  }
}

function instanceOf(event: ServerSentEvent): InstanceEvent {
  const data: unknown = JSON.parse(event.data)
  if (!Value.Check(InstanceEvent, data)) throw new Error(`not an InstanceEvent: ${event.data}`)
  return data
}

t.test('a deploy, stop and remove are watched through /events', async (t) => {
  const agent = await startTestAgent(t)
  const before = uniqueName('Already There')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(before) })).status, 201)

  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const opened = await agent.client.events({ signal: controller.signal })
  if (opened.status !== 200) throw new Error(`events answered ${opened.status}`)
  t.match(opened.response.headers.get('content-type'), /^text\/event-stream/)
  const stream = collect(opened.response)

  const first = await stream.until((event) => event.event === 'instance' && instanceOf(event).instanceName === before)
  t.equal(instanceOf(first).instance?.status, 'running', 'the current view arrives first')

  const name = uniqueName('Watched')
  const secret = `s3cr3t-${Date.now()}`
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name, { env: [`API_KEY=${secret}`] }) })).status, 201)
  const running = await stream.until((event) => event.event === 'instance' && instanceOf(event).instance?.instance_name_on_toolbox === name && instanceOf(event).instance?.status === 'running')
  t.ok(running, 'the deploy is seen running')

  await agent.client.stopTool({ params: { name } })
  await stream.until((event) => event.event === 'instance' && instanceOf(event).instanceName === name && instanceOf(event).instance?.status === 'stopped')
  t.pass('the stop is seen')

  await agent.client.removeTool({ params: { name } })
  await stream.until((event) => event.event === 'instance' && instanceOf(event).instanceName === name && instanceOf(event).instance === null)
  t.pass('the removal is seen as a null instance')

  const everything = stream.events.map((event) => event.data).join('\n')
  t.notOk(everything.includes(secret), 'env values never reach the event stream')
  t.notOk(everything.includes('API_KEY'), 'nor env keys')
})

t.test('?name= narrows the stream to one instance; no token is a 401', async (t) => {
  const agent = await startTestAgent(t)
  const watched = uniqueName('Only Me')
  const other = uniqueName('Not Me')
  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const opened = await agent.client.events({ query: { name: watched }, signal: controller.signal })
  if (opened.status !== 200) throw new Error(`events answered ${opened.status}`)
  const stream = collect(opened.response)
  await agent.client.deployTool({ body: agent.deployBody(other) })
  await agent.client.deployTool({ body: agent.deployBody(watched) })
  await stream.until((event) => instanceOf(event).instance?.status === 'running')
  t.same([...new Set(stream.events.map((event) => instanceOf(event).instanceName))], [watched])

  const anonymous = await fetch(`${agent.baseUrl}/events`)
  t.equal(anonymous.status, 401)
  t.match(await anonymous.json(), { success: false, code: 'DTMA_UNAUTHORIZED' })
})

t.test('event streams are capped: one over DTMA_EVENTS_MAX_CLIENTS gets a 503 with Retry-After; a closed one frees its place', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_EVENTS_MAX_CLIENTS: '2' } })
  const controllers = [new AbortController(), new AbortController()]
  t.teardown(() => controllers.forEach((controller) => controller.abort()))
  for (const controller of controllers) t.equal((await agent.client.events({ signal: controller.signal })).status, 200, 'within the cap')

  const over = await fetch(`${agent.baseUrl}/events`, { headers: authHeaders() })
  t.equal(over.status, 503, 'one over the cap')
  t.equal(over.headers.get('retry-after'), '5')
  t.match(await over.json(), { success: false, code: 'DTMA_TOO_MANY_STREAMS', error: /2 event streams are open/ })

  controllers[0]?.abort()
  const next = await waitFor(async () => {
    const controller = new AbortController()
    const reply = await agent.client.events({ signal: controller.signal })
    if (reply.status === 200) return controller
    controller.abort()
    return undefined
  }, 10_000)
  t.ok(next, 'a stream the client closed frees its place')
  next?.abort()
})
