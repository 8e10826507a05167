// Runs one of DTMA's real Deno edge functions (supabase/functions/{name}/
// index.ts) as its own process, the way `npx deno` runs it, in front of a
// PostgREST stand-in backed by real PostgreSQL: the agent under test calls
// the real function, and the function the real SQL. `url` is what an agent
// takes as SUPABASE_URL: the function answers under /functions/v1/{name}.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

export interface EdgeFunction {
  /** http://127.0.0.1:PORT, the project URL the agent is given. */
  url: string
  output(): string
  stop(): Promise<void>
}

interface TapLike {
  teardown(fn: () => unknown): void
}

export async function startEdgeFunction(t: TapLike, name: 'registry' | 'toolbox-enroll', env: Record<string, string>): Promise<EdgeFunction> {
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
    if (port !== undefined) return { url: `http://127.0.0.1:${port}`, output: () => output, stop }
    if (child.exitCode !== null) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`the ${name} function did not start:\n${output}`)
}
