// The CLI's real binary (dist/bin.js) run against an agent: its exit code and
// what it wrote. Async on purpose: the agent under test runs in this process.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { TOKEN, type TestAgent } from '../../../agent/test/helpers/agent.ts'

export const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url))

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

export function dtma(agent: Pick<TestAgent, 'baseUrl'>, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { PATH: process.env.PATH, DTMA_URL: agent.baseUrl, DTMA_TOKEN: TOKEN, ...env },
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
