// The README's Tokens example works as printed: its commands run verbatim
// through bash on a toolbox whose secret the shell can read
// (DTMA_BEARER_TOKEN), against a real agent (its address put where the
// README says localhost:30000): the token it mints opens /tools, and the AI
// agent's token names the instance and the two tools.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { startTestAgent, TEST_AUDIENCE, VM_TOKEN } from './helpers/agent.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const run = promisify(execFile)

t.test("the README's Tokens example mints tokens the agent takes", async (t) => {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  const block = /## Tokens\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? ''
  const commands = block.split('\n').filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
  t.equal(commands.length, 3, 'mint, call, mint for an AI agent')
  const agent = await startTestAgent(t)
  const script = commands.map((command) => command.replaceAll('localhost:30000', `127.0.0.1:${agent.port}`)).join('\necho "<<<end>>>"\n')
  const { stdout } = await run('bash', ['-ec', script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, DTMA_BEARER_TOKEN: VM_TOKEN, DTMA_TOKEN_AUDIENCE: TEST_AUDIENCE, DTMA_CONFIG_FILE: '/dev/null', DTMA_DATA_DIR: agent.dataDir },
    timeout: 60_000
  })
  const [, listed = '', aiToken = ''] = stdout.split('<<<end>>>\n')
  t.match(JSON.parse(listed), { success: true, data: Array }, 'curl with the minted token: GET /tools answers')
  const claims = JSON.parse(Buffer.from(aiToken.trim().split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  t.comment(`the AI agent's token: ${JSON.stringify({ scope: claims.scope, instances: claims.instances, tools: claims.tools, lifetime: Number(claims.exp) - Number(claims.iat) })}`)
  t.match(claims, { aud: TEST_AUDIENCE, scope: 'mcp', instances: ['7d1c0ad2-53d4-4b5b-9f7e-1f3c2a4b5c6d'], tools: { '7d1c0ad2-53d4-4b5b-9f7e-1f3c2a4b5c6d': ['search', 'fetch'] } })
  t.equal(Number(claims.exp) - Number(claims.iat), 86400, 'for a day')
})
