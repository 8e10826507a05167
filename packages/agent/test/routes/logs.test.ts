// GET /tools/:name/logs against a real container: stdout and stderr arrive
// demultiplexed as text, tail and since bound the read, follow streams new
// lines until the client goes away, unknown instances are a 404, and a log
// over the 4 MiB cap is answered up to the cap.
import t from 'tap'
import { startTestAgent, TOKEN, uniqueName } from '../helpers/agent.ts'
import { ensureChattyImage, ensureLoudImage } from '../helpers/images.ts'
import { waitFor } from '../helpers/wait.ts'

const MAX_LOG_BYTES = 4 * 1024 * 1024

t.test('logs: demultiplexed text, tail, since, follow, 404', async (t) => {
  const image = await ensureChattyImage()
  const agent = await startTestAgent(t)
  const name = uniqueName('Chatty')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name, { image }) })).status, 201)

  const read = async (query: { tail?: number; since?: number }) => {
    const reply = await agent.client.toolLogs({ params: { name }, query })
    if (reply.status !== 200) throw new Error(`logs answered ${reply.status}`)
    t.match(reply.response.headers.get('content-type'), /^text\/plain/)
    return reply.response.text()
  }
  t.ok(await waitFor(async () => ((await read({ tail: 100 })).split('\n').length > 6 ? true : undefined), 10_000), 'lines arrive')

  const text = await read({ tail: 100 })
  t.match(text, /^out \d+$/m, 'stdout lines')
  t.match(text, /^err \d+$/m, 'stderr lines')
  t.notMatch(text, /[\u0000-\u0002]/, 'no multiplexing headers left in the text')
  t.equal((await read({ tail: 2 })).trim().split('\n').length, 2, 'tail=2 answers two lines')
  t.equal(await read({ since: Math.floor(Date.now() / 1000) + 3600 }), '', 'nothing after a time in the future')

  // follow: the stream stays open and brings lines written after the call.
  const controller = new AbortController()
  const followed = await agent.client.toolLogs({ params: { name }, query: { tail: 0, follow: true }, signal: controller.signal })
  if (followed.status !== 200) throw new Error(`follow answered ${followed.status}`)
  const reader = (followed.response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>).getReader()
  // Read until both kinds of line came, the stream ended, or 20 s passed (then the abort ends it).
  const giveUp = setTimeout(() => controller.abort(), 20_000)
  let live = ''
  const both = /out \d+\n[\s\S]*err \d+\n/
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }))
    if (done) break
    live += value
    if (both.test(live)) break
  }
  clearTimeout(giveUp)
  t.match(live, both, 'follow streams new stdout and stderr lines')
  controller.abort()
  await reader.closed.catch(() => undefined)
  // The agent is not holding anything for the closed follower: it still answers at once.
  t.equal((await agent.client.getTool({ params: { name } })).status, 200)

  const raw = await fetch(`${agent.baseUrl}/tools/${encodeURIComponent(name)}/logs?tail=abc`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(raw.status, 400, 'a tail that is not a number is a 400')
  t.match(await raw.json(), { success: false, code: 'DTMA_BAD_REQUEST' })
  const tooMany = await agent.client.toolLogs({ params: { name }, query: { tail: 10001 } })
  t.equal(tooMany.status, 400, 'tail beyond the bound is a 400')

  const unknown = await agent.client.toolLogs({ params: { name: uniqueName('Nobody') } })
  t.match(unknown, { status: 404, body: { success: false, code: 'DTMA_NOT_FOUND' } })
  const noToken = await fetch(`${agent.baseUrl}/tools/${encodeURIComponent(name)}/logs`)
  t.equal(noToken.status, 401)
})

t.test('a read of a log larger than the cap answers the first 4 MiB, streamed', async (t) => {
  const image = await ensureLoudImage()
  const agent = await startTestAgent(t)
  const name = uniqueName('Loud')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name, { image }) })).status, 201)
  const last = await waitFor(async () => {
    const reply = await agent.client.toolLogs({ params: { name }, query: { tail: 1 } })
    const text = reply.status === 200 ? await reply.response.text() : ''
    return text.includes('loud-done') ? text : undefined
  }, 30_000)
  t.equal(last, 'loud-done\n', 'the container wrote its 6 MB')

  const started = Date.now()
  const reply = await agent.client.toolLogs({ params: { name }, query: { tail: 10_000 } })
  if (reply.status !== 200) throw new Error(`logs answered ${reply.status}`)
  const firstByteMs = Date.now() - started
  const body = Buffer.from(await reply.response.arrayBuffer())
  t.equal(body.length, MAX_LOG_BYTES, 'exactly the cap')
  t.match(body.subarray(0, 2000).toString(), /^x{999}\n/, 'from the first line of the tail')
  t.notOk(body.includes('loud-done'), 'the lines after the cap are not sent')
  t.comment(`6 MB log read capped at ${body.length} bytes: headers after ${firstByteMs} ms, body after ${Date.now() - started} ms`)
  t.equal((await agent.client.getTool({ params: { name } })).status, 200, 'the agent answers at once afterwards')
})
