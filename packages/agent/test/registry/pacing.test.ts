// The registry sender against a real HTTP functions gateway, through the
// real supabase-js target and the real SQLite outbox: a 429 or 503 with
// Retry-After is waited out (not the 0.5 s backoff); thirty changes of one
// instance while the registry fails reach it as one write, the last; and a
// restart's full sync sends only the rows that changed since they were
// delivered.
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RegistryRequest } from '@dtma/contract'
import pino from 'pino'
import t from 'tap'
import type { InstanceApi } from '../../src/instances/instance-api.ts'
import type { InstanceView } from '../../src/instances/view.ts'
import type { InstanceChange, InstanceChangeListener } from '../../src/instances/views.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { RegistryOutbox } from '../../src/registry/outbox.ts'
import { RegistrySync } from '../../src/registry/registry-sync.ts'
import { SupabaseRegistryTarget } from '../../src/registry/supabase-target.ts'
import { waitFor } from '../helpers/wait.ts'

interface Arrival {
  at: number
  body: RegistryRequest
  status: number
}

type Tap = { teardown(fn: () => unknown): void }

/** The registry function: each request answered by `answer` (200 by default), every one recorded. */
async function gateway(t: Tap, answer: (arrival: Omit<Arrival, 'status'>) => { status: number; retryAfter?: string } = () => ({ status: 200 })) {
  const arrivals: Arrival[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const seen = { at: performance.now(), body: JSON.parse(Buffer.concat(chunks).toString()) as RegistryRequest }
      const { status, retryAfter } = request.url === '/functions/v1/registry' ? answer(seen) : { status: 404 }
      arrivals.push({ ...seen, status })
      const body = JSON.stringify(status === 200 ? { success: true, operation: seen.body.operation } : { success: false, error: 'busy', code: 'DTMA_BUSY' })
      response.writeHead(status, { 'content-type': 'application/json', ...(retryAfter !== undefined && { 'retry-after': retryAfter }) }).end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { arrivals, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

function view(instanceName: string, accountToolInstanceId: string, status: InstanceView['status'] = 'running', containerId = 'c'.repeat(64)): InstanceView {
  return {
    instanceName, accountToolInstanceId, containerId, containerName: `dtma-${instanceName}`, image: 'dtma-test/busybox:v1', ports: [], created: 0, startedAt: null,
    status, desiredState: 'running', dockerState: status === 'running' ? 'running' : 'exited', health: 'none', mcp: null,
    limits: {} as InstanceView['limits'], envKeys: ['API_KEY'], egress: 'internet'
  }
}

/** The domain as the sender sees it: a snapshot and change notices. */
function domain(snapshot: InstanceChange[]) {
  const listeners: InstanceChangeListener[] = []
  const api = {
    whenReady: async () => undefined,
    snapshot: () => snapshot,
    onChange: (listener: InstanceChangeListener) => (listeners.push(listener), () => undefined)
  } as unknown as InstanceApi
  return { api, emit: (change: InstanceChange) => listeners.forEach((listener) => listener(change)) }
}

function sync(t: Tap, storePath: string, url: string, instances: InstanceApi) {
  const outbox = new RegistryOutbox(storePath)
  const target = new SupabaseRegistryTarget({ url, token: 'toolbox-token', timeoutMs: 5000 })
  const registry = new RegistrySync({
    instances, outbox, target,
    logger: pino({ level: 'silent' }), metrics: new Metrics(), retryMaxMs: 10_000, random: () => 0
  })
  let closed = false
  const close = async () => {
    if (!closed) await registry.close()
    closed = true
  }
  t.teardown(close)
  return { registry, outbox, close }
}

function storeDir(t: Tap): string {
  const dir = mkdtempSync(join(tmpdir(), 'dtma-registry-pacing-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return join(dir, 'store.sqlite')
}

t.test('a 429 with Retry-After holds the sender that long, not its 0.5 s backoff', async (t) => {
  const server = await gateway(t, () => (server.arrivals.length === 0 ? { status: 429, retryAfter: '2' } : { status: 200 }))
  const { api } = domain([{ instanceName: 'a', view: view('a', randomUUID()) }])
  const { registry, outbox } = sync(t, storeDir(t), server.url, api)
  registry.start()
  t.ok(await waitFor(() => (outbox.pending() === 0 && server.arrivals.length >= 2 ? true : undefined), 10_000), 'the row lands')
  const gap = Math.round(server.arrivals[1]!.at - server.arrivals[0]!.at)
  t.comment(`after "429 Retry-After: 2": expected >= 2000 ms (the backoff alone: 400 ms), seen ${gap} ms`)
  t.ok(gap >= 2000, 'Retry-After honoured')
  t.same(server.arrivals.map((a) => a.status), [429, 200])
})

t.test('thirty changes of one instance while the registry fails reach it as one write: the last', async (t) => {
  let open = false
  const server = await gateway(t, () => (open ? { status: 200 } : { status: 503 }))
  const id = randomUUID()
  const { api, emit } = domain([])
  const { registry, outbox } = sync(t, storeDir(t), server.url, api)
  registry.start()
  // The registry is failing: the sender is in its backoff when the changes come.
  emit({ instanceName: 'a', view: view('a', id, 'running', 'f'.repeat(64)) })
  t.ok(await waitFor(() => (server.arrivals.length > 0 ? true : undefined), 5000), 'a first write refused')
  for (let i = 0; i < 30; i++) emit({ instanceName: 'a', view: view('a', id, i % 2 === 0 ? 'running' : 'stopped', i.toString(16).padStart(64, '0')) })
  t.equal(outbox.pending(), 1, 'one pending entry for the instance')
  open = true
  t.ok(await waitFor(() => (outbox.pending() === 0 && server.arrivals.some((a) => a.status === 200) ? true : undefined), 15_000), 'the outbox drains')
  const landed = server.arrivals.filter((a) => a.status === 200)
  const last = (29).toString(16).padStart(64, '0')
  t.comment(`requests: ${server.arrivals.length} (${server.arrivals.filter((a) => a.status === 503).length} refused with 503); writes that landed: expected 1 with container ${last.slice(-4)}, seen ${landed.length} with ${landed.map((a) => (a.body as { row: { container_id: string } }).row.container_id.slice(-4)).join(', ')}`)
  t.equal(landed.length, 1, 'one write landed')
  t.match(landed[0]?.body, { operation: 'upsert', row: { account_tool_instance_id: id, container_id: last, dtma_status: 'stopped' } }, 'the last change')
  t.ok(server.arrivals.length < 30, 'fewer requests than changes')
})

t.test("a restart's full sync sends only what changed since it was delivered", async (t) => {
  const server = await gateway(t)
  const storePath = storeDir(t)
  const ids = [randomUUID(), randomUUID(), randomUUID()]
  const first = domain(ids.map((id, i) => ({ instanceName: `i${i}`, view: view(`i${i}`, id) })))
  const before = sync(t, storePath, server.url, first.api)
  before.registry.start()
  t.ok(await waitFor(() => (server.arrivals.length === 3 && before.outbox.pending() === 0 ? true : undefined), 10_000), 'three rows delivered')
  await before.close()

  // The agent starts again: i1 stopped meanwhile, i0 and i2 are as delivered (only their time stamps differ).
  const second = domain(ids.map((id, i) => ({ instanceName: `i${i}`, view: view(`i${i}`, id, i === 1 ? 'stopped' : 'running') })))
  const after = sync(t, storePath, server.url, second.api)
  after.registry.start()
  t.ok(await waitFor(() => (server.arrivals.length >= 4 && after.outbox.pending() === 0 ? true : undefined), 10_000), 'the change delivered')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const resent = server.arrivals.slice(3).map((a) => (a.body as { row: { account_tool_instance_id: string } }).row.account_tool_instance_id)
  t.comment(`rows sent after the restart: expected only i1, seen ${resent.map((id) => `i${ids.indexOf(id as (typeof ids)[number])}`).join(', ')}`)
  t.same(resent, [ids[1]])
})
