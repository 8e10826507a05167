// Runs the real agent binary as a child process, started as production
// starts it (bin/dtma-agent), so a test can kill -9 it and start it again on
// the same data dir.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createDtmaClient, type DtmaClient } from '@dtma/contract'
import { FLEET_KEY, scopeFor, TEST_TOKEN_SETTINGS, TOKEN, VM_TOKEN } from './agent.ts'
import { removePolicyChainsAtExit } from './netpolicy-cleanup.ts'

const launcher = fileURLToPath(new URL('../../bin/dtma-agent', import.meta.url))

export interface AgentProcess {
  child: ChildProcess
  client: DtmaClient
  baseUrl: string
  output: () => string
  /** Resolves once /health/ready answers 200. */
  ready(timeoutMs?: number): Promise<void>
  kill(signal?: NodeJS.Signals): Promise<void>
}

// The containers of every scope a test file's agents ran, removed when the file's process ends:
// a test may kill an agent and start it again on its data dir, so not at kill; and an agent still
// alive at a teardown may make again what the teardown removed. Agents still alive then (a file
// that timed out before its teardowns) are killed first: one left running would make again, on
// the shared engine, what is removed here.
const scopesToClear = new Set<string>()
const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const scope of scopesToClear) {
    try {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=dtma.scope=${scope}`], { encoding: 'utf8', timeout: 20_000 }).split('\n').filter((id) => id !== '')
      if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 60_000 })
    } catch {
      // the engine is away (a serial test stopped it): nothing to clear
    }
  }
})

export function spawnAgent(dataDir: string, port: number, env: Record<string, string> = {}): AgentProcess {
  removePolicyChainsAtExit(env.DTMA_SCOPE ?? scopeFor(dataDir), env.DTMA_TOOL_NETWORK ?? 'dtma-tools')
  scopesToClear.add(env.DTMA_SCOPE ?? scopeFor(dataDir))
  const confFile = join(dataDir, 'empty.conf')
  writeFileSync(confFile, '')
  const child = spawn(launcher, [], {
    env: {
      PATH: process.env.PATH,
      BACKEND_TO_DTMA_API_KEY: FLEET_KEY,
      // TOKEN is signed with it: a test that gives the agent another secret calls with a token of its own.
      DTMA_BEARER_TOKEN: VM_TOKEN,
      ...TEST_TOKEN_SETTINGS,
      DTMA_CONFIG_FILE: confFile,
      DTMA_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      DTMA_TOOL_HOST_IP: '127.0.0.1',
      DTMA_STOP_TIMEOUT_S: '2',
      DTMA_SCOPE: scopeFor(dataDir),
      DTMA_ADOPT_LABELLED: 'false',
      LOG_LEVEL: 'info',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = once(child, 'exit')
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    child,
    baseUrl,
    client: createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 60_000 }),
    output: () => output,
    // Generous: a first reconcile waits for Docker, which a loaded machine slows.
    async ready(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}: ${output}`)
        const ok = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false)
        if (ok) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error(`agent not ready after ${timeoutMs} ms: ${output}`)
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    }
  }
}
