// A loopback stand-in for Supabase's REST API (PostgREST) in front of a REAL
// PostgreSQL: it records every request supabase-js sends (method, path, query,
// Prefer, apikey, Authorization, body, the status answered) and has PostgREST's
// work done by the edge functions' test engine
// (supabase/functions/_test/postgrest/: the same wire checks, SQL and error
// mapping the Deno tests run on), as the service_role, the only key the
// backend's functions hold. Wire-format problems land in `violations`.
// It can go down (connections refused) and come back on the same port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type pg from 'pg'
import { PostgrestEngine } from '../../../../supabase/functions/_test/postgrest/engine.ts'
import { fromDatabase, PostgrestError } from '../../../../supabase/functions/_test/postgrest/errors.ts'
import { parseRest } from '../../../../supabase/functions/_test/postgrest/wire.ts'

export interface RecordedRestRequest {
  method: string
  path: string
  query: Record<string, string>
  prefer: string | null
  apikey: string | null
  authorization: string | null
  body: unknown
  status: number
}

export class PostgrestStandIn {
  readonly requests: RecordedRestRequest[] = []
  /** Requests supabase-js would not send. */
  readonly violations: string[] = []
  readonly serviceRoleKey: string
  private readonly engine: PostgrestEngine
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(pool: pg.Pool, serviceRoleKey: string) {
    this.engine = new PostgrestEngine(pool)
    this.serviceRoleKey = serviceRoleKey
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async up(): Promise<void> {
    const server = createServer((request, response) => void this.handle(request, response))
    server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    const address = server.address()
    this.port = typeof address === 'object' && address ? address.port : 0
    this.server = server
  }

  /** Refuses connections from now on (kept sockets are cut too). */
  async down(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://stand-in')
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString('utf8')
    const headers = new Headers()
    for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers.set(name, value)
    const recorded: RecordedRestRequest = {
      method: request.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      prefer: headers.get('prefer'),
      apikey: headers.get('apikey'),
      authorization: headers.get('authorization'),
      body: undefined,
      status: 0
    }
    this.requests.push(recorded)
    const answer = await this.answer(recorded, url, headers, text)
    recorded.status = answer.status
    const body = answer.body === null ? undefined : Buffer.from(await answer.arrayBuffer())
    response.writeHead(answer.status, body === undefined ? {} : { 'content-type': 'application/json' })
    response.end(body)
  }

  private async answer(recorded: RecordedRestRequest, url: URL, headers: Headers, text: string): Promise<Response> {
    try {
      recorded.body = text === '' ? undefined : JSON.parse(text)
    } catch {
      this.violations.push(`body of ${recorded.method} ${recorded.path} is not JSON`)
      return new PostgrestError(400, 'PGRST102', 'Empty or invalid json').toResponse()
    }
    if (recorded.apikey !== this.serviceRoleKey || recorded.authorization !== `Bearer ${this.serviceRoleKey}`) {
      return new PostgrestError(401, 'PGRST301', 'JWT invalid').toResponse()
    }
    const claims = { role: 'service_role' as const }
    const rpc = /^\/rest\/v1\/rpc\/([^/]+)$/.exec(url.pathname)?.[1]
    if (rpc !== undefined && recorded.method === 'POST') return await this.engine.rpc(rpc, recorded.body ?? {}, claims, this.violations)
    try {
      return await this.engine.rest(parseRest(recorded.method, url, headers, this.violations), recorded.body, claims)
    } catch (error) {
      return fromDatabase(error, claims.role).toResponse()
    }
  }
}
