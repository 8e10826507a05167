// A typed fetch client for the DTMA API, generated from the route table:
// `client.startTool({ params: { name } })`. A wrong route, path parameter or
// body is a compile error for every caller (agent tests, edge functions, CLI).
import { buildPath, type RouteBody, type RouteParams, type RouteQuery, type RouteResponse, type RouteSuccess } from './route-types.ts'
import { routes, type RouteDefinition, type RouteId, type Routes } from './routes.ts'

export interface DtmaClientOptions {
  /** e.g. http://10.0.0.5:30000 (a trailing slash is fine) */
  baseUrl: string
  /** Bearer credential: a DTMA token (token.ts), or the fleet key BACKEND_TO_DTMA_API_KEY while the agent accepts it */
  token?: string
  /** Injected fetch (tests, Deno, proxies); defaults to the global one */
  fetch?: typeof fetch
  /** Per-call deadline in milliseconds; default 10 000 */
  timeoutMs?: number
}

// A part whose fields are all optional (a query) may be left out.
type Maybe<K extends string, T> = [T] extends [never] ? { [key in K]?: never } : {} extends T ? { [key in K]?: T } : { [key in K]: T }

export type CallArgs<R extends RouteDefinition> = Maybe<'params', RouteParams<R>> &
  Maybe<'body', RouteBody<R>> &
  Maybe<'query', RouteQuery<R>> & {
    /** Overrides the client's default deadline for this call (for a stream
     *  route: until the agent starts answering) */
    timeoutMs?: number
    /** Aborts the call; the way to stop following a stream route */
    signal?: AbortSignal
    /** More request headers (the MCP routes: Mcp-Session-Id, Mcp-Protocol-Version, Origin) */
    headers?: Readonly<Record<string, string>>
  }

/** A stream route answers its success as the open Response (read
 *  `response.body` as it arrives; see readServerSentEvents) and its errors
 *  as parsed bodies, like every other route. */
export type StreamResponse<R extends RouteDefinition> =
  | { status: RouteSuccess<R>['status']; response: Response }
  | Exclude<RouteResponse<R>, RouteSuccess<R>>

/** A 'follow' route streams only when asked (follow=true), and answers its JSON body otherwise. */
type ReplyOf<R extends RouteDefinition> = R extends { readonly stream: true } | { readonly raw: true }
  ? StreamResponse<R>
  : R extends { readonly stream: 'follow' }
    ? RouteResponse<R> | StreamResponse<R>
    : RouteResponse<R>

export type DtmaClient = {
  [K in RouteId]: (args?: CallArgs<Routes[K]>) => Promise<ReplyOf<Routes[K]>>
}

export type DtmaClientErrorKind = 'timeout' | 'network' | 'bad-response'

/** The call never got a declared answer from the agent. */
export class DtmaClientError extends Error {
  readonly kind: DtmaClientErrorKind
  constructor(kind: DtmaClientErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DtmaClientError'
    this.kind = kind
  }
}

const DEFAULT_TIMEOUT_MS = 10_000

export function createDtmaClient(options: DtmaClientOptions): DtmaClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const doFetch = options.fetch ?? globalThis.fetch

  async function call(route: RouteDefinition, args: Record<string, unknown> = {}): Promise<{ status: number; body?: unknown; response?: Response }> {
    const url = new URL(baseUrl + buildPath(route.path, args.params as Record<string, string> | undefined))
    const query = args.query as Record<string, unknown> | undefined
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value))
    }
    const headers: Record<string, string> = { accept: route.accept ?? 'application/json', ...(args.headers as Record<string, string> | undefined) }
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
    let body: string | undefined
    if (args.body !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(args.body)
    }

    const timeoutMs = (args.timeoutMs as number | undefined) ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), timeoutMs)
    const signal = args.signal as AbortSignal | undefined
    const abortFromCaller = () => controller.abort(signal?.reason)
    if (signal?.aborted) controller.abort(signal.reason)
    signal?.addEventListener('abort', abortFromCaller, { once: true })
    let streaming = false
    try {
      const response = await doFetch(url, { method: route.method, headers, body, signal: controller.signal })
      // The deadline covers the wait for an answer, not the life of a stream.
      const streams = route.stream === true || route.raw === true || (route.stream === 'follow' && query?.follow === true)
      if (streams && response.ok) {
        streaming = true
        return { status: response.status, response }
      }
      const text = await response.text()
      const isJson = (response.headers.get('content-type') ?? '').includes('application/json')
      try {
        return { status: response.status, body: isJson ? JSON.parse(text) : text }
      } catch (cause) {
        throw new DtmaClientError('bad-response', `DTMA answered ${response.status} with invalid JSON`, { cause })
      }
    } catch (error) {
      if (error instanceof DtmaClientError) throw error
      if (signal?.aborted) throw error
      if (controller.signal.aborted) {
        throw new DtmaClientError('timeout', `DTMA did not answer ${route.method} ${url.pathname} within ${timeoutMs} ms`)
      }
      throw new DtmaClientError('network', `DTMA unreachable at ${baseUrl}: ${(error as Error).message}`, { cause: error })
    } finally {
      clearTimeout(timer)
      // A stream stays tied to the caller's signal: aborting it closes the stream.
      if (!streaming) signal?.removeEventListener('abort', abortFromCaller)
    }
  }

  const client: Record<string, (args?: Record<string, unknown>) => Promise<unknown>> = {}
  for (const [id, route] of Object.entries(routes)) {
    client[id] = (args) => call(route, args)
  }
  return client as unknown as DtmaClient
}
