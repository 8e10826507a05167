// `dtma token` and the CLI's own signed calls, through the real binary
// against a real agent: a token printed from the toolbox's secret (set, or
// read from the enrolled credentials file) is accepted for its scopes and no
// others, carries the instances and tools asked, and the lifetime cap; the CLI
// on the toolbox calls without DTMA_TOKEN by signing each call itself.
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startTestAgent, tempDir, TEST_AUDIENCE, VM_TOKEN } from '../../agent/test/helpers/agent.ts'

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

function dtma(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No /etc/dtma.conf of the machine running the tests: only what the test gives.
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH, DTMA_CONFIG_FILE: '/dev/null', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A token's claims, read without checking it (the agent checks). */
function decodeJwt(token: string): Record<string, unknown> & { iat?: number; exp?: number } {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
}

async function statusWith(url: string, token: string, method = 'GET'): Promise<number> {
  return (await fetch(url, { method, headers: { authorization: `Bearer ${token}` } })).status
}

t.test('dtma token prints a token of this toolbox for the scopes asked, and only those', async (t) => {
  const agent = await startTestAgent(t)
  const secretEnv = { DTMA_BEARER_TOKEN: VM_TOKEN, DTMA_TOKEN_AUDIENCE: TEST_AUDIENCE }
  const minted = await dtma(['token', '--scope', 'tools:read'], secretEnv)
  t.equal(minted.code, 0, minted.stderr)
  const token = minted.stdout.trim()
  t.match(decodeJwt(token), { aud: TEST_AUDIENCE, scope: 'tools:read', sub: 'dtma-cli' })
  const claims = decodeJwt(token)
  t.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600, 'ten minutes unless --ttl says otherwise')
  const read = await statusWith(`${agent.baseUrl}/tools`, token)
  const write = await statusWith(`${agent.baseUrl}/tools/x/stop`, token, 'POST')
  t.comment(`dtma token tools:read | GET /tools | 200 | ${read}`)
  t.comment(`dtma token tools:read | POST /tools/x/stop | 403 missing scope | ${write}`)
  t.equal(read, 200)
  t.equal(write, 403)

  const narrowed = await dtma(['token', '--scope', 'mcp', '--tool', 'ati-1=echo', '--tool', 'ati-1=add', '--instance', 'ati-2', '--ttl', '3600'], secretEnv)
  t.equal(narrowed.code, 0, narrowed.stderr)
  t.match(decodeJwt(narrowed.stdout.trim()), { scope: 'mcp', instances: ['ati-2'], tools: { 'ati-1': ['echo', 'add'] } })
  const onlyTools = await dtma(['token', '--scope', 'mcp', '--tool', 'ati-1=echo'], secretEnv)
  t.match(decodeJwt(onlyTools.stdout.trim()), { instances: ['ati-1'] }, '--tool alone narrows to its instances')

  const tooLong = await dtma(['token', '--scope', 'agent:admin', '--ttl', '601'], secretEnv)
  t.equal(tooLong.code, 2)
  t.match(tooLong.stderr, /at most 600 s/)
  const unknown = await dtma(['token', '--scope', 'root'], secretEnv)
  t.match(unknown, { code: 2, stderr: /unknown scope 'root'/ })
  const noSecret = await dtma(['token', '--scope', 'tools:read'], { DTMA_DATA_DIR: tempDir(t) })
  t.match(noSecret, { code: 2, stderr: /needs this toolbox's secret/ })
  t.notMatch(minted.stderr + tooLong.stderr + noSecret.stderr, VM_TOKEN, 'the secret is never printed')
})

t.test('on an enrolled toolbox the CLI reads the credentials file, signs for dtma:<environment id> and calls without DTMA_TOKEN', async (t) => {
  const environmentId = randomUUID()
  // The product's audience rule: no DTMA_TOKEN_AUDIENCE, the environment id.
  const agent = await startTestAgent(t, { env: { DTMA_TOKEN_AUDIENCE: '', ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId } })
  const dataDir = tempDir(t)
  writeFileSync(join(dataDir, 'toolbox-credentials.json'), JSON.stringify({ dtma_bearer_token: VM_TOKEN, account_tool_environment_id: environmentId }), { mode: 0o600 })
  const minted = await dtma(['token', '--scope', 'tools:read'], { DTMA_DATA_DIR: dataDir })
  t.equal(minted.code, 0, minted.stderr)
  t.match(decodeJwt(minted.stdout.trim()), { aud: `dtma:${environmentId}` })
  t.equal(await statusWith(`${agent.baseUrl}/tools`, minted.stdout.trim()), 200)

  const ls = await dtma(['ls', '--json'], { DTMA_DATA_DIR: dataDir, DTMA_URL: agent.baseUrl })
  t.equal(ls.code, 0, `dtma ls signs its own call: ${ls.stderr}`)
  t.match(JSON.parse(ls.stdout), { success: true, data: Array })
  const elsewhere = await dtma(['ls'], { DTMA_DATA_DIR: tempDir(t), DTMA_URL: agent.baseUrl })
  t.equal(elsewhere.code, 1, 'without the secret and without DTMA_TOKEN the agent refuses')
  t.match(elsewhere.stderr, /Unauthorized: Missing or invalid token format/)
})
