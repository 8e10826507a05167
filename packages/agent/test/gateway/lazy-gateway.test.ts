// The aggregated endpoint made at its first request (lazy-gateway.ts): made
// once however many requests come together, started before it answers, a
// failed load tried again by the next request, nothing made after the close,
// and what was made closed with it. And the agent's own composition makes
// it only on first use: its module (and the SDK v2 under it) is not loaded
// by a start.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { DtmaError } from '../../src/errors.ts'
import type { GatewayCaller } from '../../src/gateway/gateway-api.ts'
import { LazyGateway, type StartableGateway } from '../../src/gateway/lazy-gateway.ts'

const caller: GatewayCaller = { binding: '', narrowed: false, accessTo: () => ({}) }
const request = () => new Request('http://localhost/mcp', { method: 'POST' })

function fakeGateway(events: string[]): StartableGateway {
  return {
    start: () => void events.push('start'),
    close: async () => void events.push('close'),
    handle: async () => {
      events.push('handle')
      return new Response('{}', { status: 200 })
    }
  }
}

t.test('made once, at the first request, and started before it answers', async (t) => {
  const events: string[] = []
  let made = 0
  const lazy = new LazyGateway(async () => {
    made += 1
    events.push('made')
    return fakeGateway(events)
  })
  t.equal(lazy.loaded, false, 'nothing made before a request')
  const answers = await Promise.all([lazy.handle(request(), caller), lazy.handle(request(), caller)])
  t.same(answers.map((answer) => answer.status), [200, 200], 'both requests answered')
  t.equal(made, 1, 'made once for two requests that came together')
  t.same(events, ['made', 'start', 'handle', 'handle'], 'started before it answered')
  await lazy.close()
  t.equal(events.at(-1), 'close', 'closed with the agent')
  const refused = await lazy.handle(request(), caller).then(() => undefined, (error: unknown) => error)
  t.equal(refused instanceof DtmaError ? refused.kind : refused, 'mcp-unavailable', 'after the close: 503, nothing made again')
  t.equal(made, 1)
})

t.test('a load that failed is tried again by the next request; a close before any request makes nothing', async (t) => {
  let attempts = 0
  const lazy = new LazyGateway(async () => {
    attempts += 1
    if (attempts === 1) throw new Error('module not found')
    return fakeGateway([])
  })
  await t.rejects(lazy.handle(request(), caller), /module not found/, 'the first load fails')
  t.equal((await lazy.handle(request(), caller)).status, 200, 'the next request loads it again')
  t.equal(attempts, 2)
  const never = new LazyGateway(async () => t.fail('made after a close') as never)
  await never.close()
  t.equal(never.loaded, false, 'closed without a request: never made')
})

t.test("the agent's composition loads the gateway and the SDK v2 only at first use", async (t) => {
  // Importing the built compose.js loads everything a start loads (the agent builds its services from there).
  const compose = fileURLToPath(new URL('../../dist/compose.js', import.meta.url))
  const probe = `
    import { registerHooks } from 'node:module'
    const seen = []
    registerHooks({ load(url, context, next) { seen.push(url); return next(url, context) } })
    await import(${JSON.stringify(compose)})
    const hits = seen.filter((url) => /gateway-service|@modelcontextprotocol\\/(server|client)\\//.test(url))
    process.stdout.write(JSON.stringify({ loaded: seen.length, hits }))`
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 })
  t.equal(run.status, 0, `the probe ran: ${run.stderr.slice(0, 500)}`)
  const { loaded, hits } = JSON.parse(run.stdout) as { loaded: number; hits: string[] }
  t.comment(`expected: no gateway-service, no @modelcontextprotocol/server or client among the modules; seen: ${hits.length} of ${loaded}`)
  t.ok(loaded > 100, `compose.ts and what it imports loaded (${loaded} modules)`)
  t.same(hits, [], 'neither the gateway service nor the SDK v2 loaded by the composition root')
})
