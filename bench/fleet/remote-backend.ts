// The simulation's handle on the functions' thread (backend-worker.ts): the
// Backend's calls, window reset and figures, by message. The simulated
// toolboxes answer refresh-status's GET /status from here.
import type { BackendOptions, FunctionName } from './backend.ts'
import type { FromWorker, ToWorker } from './backend-wire.ts'

export interface BackendStats {
  latencies: Map<FunctionName, number[]>
  shed: Map<FunctionName, number>
  statuses: Map<string, number>
  /** The functions' thread's timer lag samples (ms). */
  lags: number[]
  violations: string[]
}

export class RemoteBackend {
  private readonly pending = new Map<number, (message: Extract<FromWorker, { kind: 'answer' }>) => void>()
  private nextId = 0
  private replies: Array<(message: FromWorker) => void> = []

  private constructor(private readonly worker: Worker, statusOf: (ip: string) => string) {
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      if (data.kind === 'answer') {
        this.pending.get(data.id)?.(data)
        this.pending.delete(data.id)
      } else if (data.kind === 'status?') this.post({ kind: 'status', id: data.id, body: statusOf(data.ip) })
      else this.replies.shift()?.(data)
    }
  }

  /** statusOf: a toolbox's GET /status answer as JSON, by its address ('' for none). */
  static async start(databaseUrl: string, options: BackendOptions, statusOf: (ip: string) => string): Promise<RemoteBackend> {
    const worker = new Worker(new URL('./backend-worker.ts', import.meta.url).href, { type: 'module', name: 'functions' })
    const backend = new RemoteBackend(worker, statusOf)
    const { poolSize, concurrency, retryAfterS } = options
    await backend.ask({ kind: 'start', databaseUrl, options: { poolSize, concurrency, retryAfterS } })
    return backend
  }

  async call(fn: FunctionName, build: () => Request): Promise<Response> {
    const request = build()
    const body = request.body === null ? null : await request.text()
    const headers: Array<[string, string]> = []
    request.headers.forEach((value, key) => headers.push([key, value]))
    const id = this.nextId++
    const answer = new Promise<Extract<FromWorker, { kind: 'answer' }>>((resolve) => this.pending.set(id, resolve))
    this.post({ kind: 'call', id, fn, request: { url: request.url, method: request.method, headers, body } })
    const { status, headers: answered, body: text } = await answer
    return new Response(text === '' || status === 204 ? null : text, { status, headers: answered })
  }

  async reset(): Promise<void> {
    await this.ask({ kind: 'reset' })
  }

  async stats(): Promise<BackendStats> {
    const reply = await this.ask({ kind: 'stats' })
    if (reply.kind !== 'stats') throw new Error(`the functions' thread answered ${reply.kind} to stats`)
    return { latencies: new Map(reply.latencies), shed: new Map(reply.shed), statuses: new Map(reply.statuses), lags: reply.lags, violations: reply.violations }
  }

  async close(): Promise<void> {
    await this.ask({ kind: 'close' })
    this.worker.terminate()
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message)
  }

  /** One request of the kinds answered in order (start, reset, stats, close). */
  private ask(message: ToWorker): Promise<FromWorker> {
    const reply = new Promise<FromWorker>((resolve) => this.replies.push(resolve))
    this.post(message)
    return reply
  }
}
