// The functions' own thread: the Backend (the real handlers, supabase-js,
// the PostgREST engine, the gateway's admission) runs in this worker, apart
// from the 10,000 simulated agents, as Supabase's edge runtime runs apart
// from the toolboxes that call it. A call arrives as a message, is timed
// here from admission to the answer's body, and goes back as a message.
// refresh-status's GET /status of a toolbox is asked of the main thread,
// where the simulated toolboxes live.
import { Backend, type BackendOptions, type FunctionName } from './backend.ts'
import type { ToWorker, FromWorker, WireRequest } from './backend-wire.ts'

const scope = self as unknown as { postMessage(message: FromWorker): void; onmessage: ((event: MessageEvent<ToWorker>) => void) | null }
let backend: Backend | undefined
const statusWaiters = new Map<number, (body: string) => void>()
let nextStatus = 0
/** How late a 100 ms timer of this thread fired: the functions' own queueing. */
let lags: number[] = []
let expected = performance.now() + 100
setInterval(() => {
  lags.push(Math.max(0, performance.now() - expected))
  expected = performance.now() + 100
}, 100)

const agentFetch: typeof fetch = (input) => {
  const ip = new URL(input instanceof Request ? input.url : String(input)).hostname
  const id = nextStatus++
  scope.postMessage({ kind: 'status?', id, ip })
  return new Promise<string>((resolve) => statusWaiters.set(id, resolve)).then((body) =>
    body === '' ? new Response(null, { status: 404 }) : new Response(body, { headers: { 'content-type': 'application/json' } })
  )
}

async function call(id: number, fn: FunctionName, wire: WireRequest): Promise<void> {
  const response = await backend!.call(fn, () => new Request(wire.url, { method: wire.method, headers: wire.headers, body: wire.body ?? undefined }))
  const headers: Array<[string, string]> = []
  response.headers.forEach((value, key) => headers.push([key, value]))
  scope.postMessage({ kind: 'answer', id, status: response.status, headers, body: await response.text() })
}

scope.onmessage = ({ data }) => {
  switch (data.kind) {
    case 'start':
      void Backend.start(data.databaseUrl, data.options as BackendOptions, agentFetch).then((started) => {
        backend = started
        scope.postMessage({ kind: 'started' })
      })
      break
    case 'call':
      void call(data.id, data.fn, data.request)
      break
    case 'status':
      statusWaiters.get(data.id)?.(data.body)
      statusWaiters.delete(data.id)
      break
    case 'reset':
      backend!.reset()
      lags = []
      scope.postMessage({ kind: 'done' })
      break
    case 'stats':
      scope.postMessage({
        kind: 'stats',
        latencies: [...backend!.latencies],
        shed: [...backend!.shed],
        statuses: [...backend!.statuses],
        lags,
        violations: backend!.violations
      })
      break
    case 'close':
      void backend?.close().then(() => scope.postMessage({ kind: 'done' }))
      break
  }
}
