// Runs one of DTMA's real Deno edge functions (supabase/functions/{name}/
// index.ts) as its own process, the way `npx deno` runs it, in front of a
// PostgREST stand-in backed by real PostgreSQL: the agent under test calls
// the real function, and the function the real SQL. `url` is what an agent
// takes as SUPABASE_URL: a loopback gateway (as Supabase's) that records each
// call (method, path, apikey, Authorization, body, status) and hands it to
// the function under /functions/v1/{name}.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type pg from 'pg'
import { PostgrestStandIn } from './postgrest-stand-in.ts'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

export interface FunctionCall {
  method: string
  path: string
  apikey: string | null
  authorization: string | null
  body: unknown
  status: number
}

export interface EdgeFunction {
  /** http://127.0.0.1:PORT, the project URL the agent is given. */
  url: string
  calls: FunctionCall[]
  output(): string
  stop(): Promise<void>
}

interface TapLike {
  teardown(fn: () => unknown): void
}

export async function startEdgeFunction(t: TapLike, name: 'registry' | 'toolbox-enroll' | 'heartbeat', env: Record<string, string>): Promise<EdgeFunction> {
  const child = spawn(`${ROOT}node_modules/.bin/deno`, ['run', '--allow-net', '--allow-env', '--allow-read', '--config', 'supabase/functions/deno.json', `supabase/functions/${name}/index.ts`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = once(child, 'exit')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      await exited
    }
  }
  t.teardown(stop)
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    const port = /listening on http:\/\/[^:]+:(\d+)\//.exec(output)?.[1]
    if (port !== undefined) return { ...(await gateway(t, name, `http://127.0.0.1:${port}`)), output: () => output, stop }
    if (child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`the ${name} function did not start:\n${output}`)
}

/** The backend as a toolbox meets it: a PostgREST stand-in on the test's
 *  database (the service-role key stays on this side) and the real
 *  `registry` function in front of it. */
export async function registryBackend(t: TapLike, pool: pg.Pool): Promise<{ rest: PostgrestStandIn; fn: EdgeFunction; serviceRoleKey: string }> {
  const serviceRoleKey = `service-role-${randomBytes(8).toString('hex')}`
  const rest = new PostgrestStandIn(pool, serviceRoleKey)
  await rest.up()
  t.teardown(() => rest.down())
  const fn = await startEdgeFunction(t, 'registry', { SUPABASE_URL: rest.url, SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey })
  return { rest, fn, serviceRoleKey }
}

/** A toolbox's per-VM token, as the backend records it. */
export async function setToolboxToken(pool: pg.Pool, environmentId: string, token: string): Promise<void> {
  await pool.query('update account_tool_environments set dtma_bearer_token = $1 where id = $2', [token, environmentId])
}

/** Supabase's functions gateway, reduced to what a test needs: /functions/v1/{name} to the function, every call recorded. */
async function gateway(t: TapLike, name: string, target: string): Promise<{ url: string; calls: FunctionCall[] }> {
  const calls: FunctionCall[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const header = (key: string) => (typeof request.headers[key] === 'string' ? (request.headers[key] as string) : null)
      const call: FunctionCall = { method: request.method ?? '', path: request.url ?? '', apikey: header('apikey'), authorization: header('authorization'), body: parsed(text), status: 0 }
      calls.push(call)
      if (call.path.split('?')[0] !== `/functions/v1/${name}`) {
        call.status = 404
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"Requested function was not found"}')
        return
      }
      const headers: Record<string, string> = {}
      for (const key of ['content-type', 'authorization', 'apikey']) if (header(key) !== null) headers[key] = header(key) as string
      fetch(`${target}${call.path}`, { method: call.method, headers, ...(text !== '' && { body: text }) }).then(
        async (answer) => {
          call.status = answer.status
          response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/plain' }).end(Buffer.from(await answer.arrayBuffer()))
        },
        () => {
          call.status = 502
          response.writeHead(502).end()
        }
      )
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const address = server.address()
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, calls }
}

/** The body as JSON when it is JSON, else the text as sent (a test may send broken JSON on purpose). */
function parsed(text: string): unknown {
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}
