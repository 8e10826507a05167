// The Authorization header fuzzed, seeded (DTMA_FUZZ_SEED replays a run):
// random bytes, every scheme spelling, a valid token with one character
// flipped, dropped or added, JWTs whose header and claims are hostile JSON
// (alg none, numbers, nulls, crit, jku, huge exp, wrong claim types), too
// many or empty segments, several headers at once. Whatever arrives, the
// agent answers a refusal or a success of the route, never a 5xx, always a
// JSON body with a sentence (a JSON-RPC error on the MCP endpoint), and never
// with the credential in it.
import { request } from 'node:http'
import { SCOPES, signToolboxToken } from '@dtma/contract'
import t from 'tap'
import { Dice, prng } from '../chaos/hostile-requests.ts'
import { startTestAgent, TEST_AUDIENCE, VM_TOKEN } from '../helpers/agent.ts'

const seed = Number(process.env.DTMA_FUZZ_SEED ?? Date.now() % 1_000_000)
const ROUNDS = 400
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

function send(port: number, method: string, path: string, authorization: string | string[] | undefined): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
    if (authorization !== undefined) headers.authorization = authorization
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = ''
      res.setEncoding('latin1')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) : undefined)
  })
}

/** Characters a header value may carry (no CR, LF or NUL): tab, visible ASCII, space, obs-text. */
function junk(dice: Dice, length: number): string {
  let text = ''
  for (let i = 0; i < length; i++) {
    const roll = dice.int(10)
    text += roll === 0 ? '\t' : roll === 1 ? String.fromCharCode(0x80 + dice.int(0x80)) : String.fromCharCode(0x20 + dice.int(0x5f))
  }
  return text
}

function mutate(dice: Dice, token: string): string {
  const at = dice.int(token.length)
  const char = dice.pick([...'AZaz09-_.=+/ '])
  return dice.pick([
    token.slice(0, at) + char + token.slice(at + 1),
    token.slice(0, at) + token.slice(at + 1),
    token.slice(0, at) + char + token.slice(at),
    token.split('.').reverse().join('.'),
    `${token}.${token.split('.')[1]}`,
    token.replace(/\.[^.]*$/, '.'),
    token.toUpperCase()
  ])
}

function hostileJwt(dice: Dice): string {
  const now = Math.floor(Date.now() / 1000)
  const header = dice.pick<unknown>([
    { alg: 'none' }, { alg: 'None', typ: 'JWT' }, { alg: 'HS256', crit: ['b64'], b64: false }, { alg: 'RS256', jku: 'http://127.0.0.1:1/jwks' },
    { alg: 'HS256', kid: '../../etc/passwd' }, { alg: 123 }, { alg: null }, { alg: '' }, {}, [], 'HS256', { alg: 'ES256', jwk: { kty: 'EC' } }, { alg: 'HS512' }
  ])
  const claims = dice.pick<unknown>([
    { aud: TEST_AUDIENCE, iat: now, exp: now + 60, scope: 'agent:admin' },
    { aud: TEST_AUDIENCE, iat: now, exp: 1e308, scope: SCOPES.join(' ') },
    { aud: [], iat: 'now', exp: now + 60, scope: 7 },
    { aud: TEST_AUDIENCE, iat: now, exp: now + 60, scope: 'mcp', instances: 'x', tools: { x: 5 } },
    { aud: { $ne: 1 }, exp: -1 }, null, 42, 'claims', [1, 2]
  ])
  const signature = dice.pick(['', 'AAAA', b64(junk(dice, 32)), '.', 'x'.repeat(dice.int(9000))])
  return `${b64(header)}.${b64(claims)}.${signature}`
}

t.test(`the Authorization header fuzzed (seed ${seed}): never a 5xx, always a sentence, never the credential echoed`, async (t) => {
  const agent = await startTestAgent(t)
  const valid = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: SCOPES, lifetimeSeconds: 600 })
  const dice = new Dice(prng(seed))
  const routes: Array<[string, string]> = [['GET', '/tools'], ['GET', '/tools/fuzz'], ['POST', '/tools/fuzz/mcp'], ['GET', '/status'], ['GET', '/system'], ['GET', '/metrics'], ['POST', '/redeploy'], ['GET', '/logs']]
  const seen = new Map<number, number>()
  const failures: string[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const credential = dice.pick([() => junk(dice, 1 + dice.int(200)), () => mutate(dice, valid), () => hostileJwt(dice), () => '.'.repeat(dice.int(40)), () => `${b64('{')}..`, () => valid])()
    const scheme = dice.pick(['Bearer ', 'Bearer ', 'Bearer ', 'bearer ', 'BEARER ', 'Bearer  ', 'Bearer\t', 'Basic ', '', 'Token ', 'Bearer ,'])
    const authorization = dice.chance(0.05) ? [`Bearer ${valid}`, `${scheme}${credential}`] : dice.chance(0.03) ? undefined : `${scheme}${credential}`.slice(0, 12_000)
    const [method, path] = dice.pick(routes)
    const { status, body } = await send(agent.port, method, path, authorization)
    seen.set(status, (seen.get(status) ?? 0) + 1)
    const what = `round ${round}: ${method} ${path} -> ${status}`
    let parsed: { error?: unknown; message?: unknown } | undefined
    try {
      parsed = JSON.parse(body) as typeof parsed
    } catch {
      parsed = undefined
    }
    if (status >= 500 && !(path === '/redeploy' && status === 501)) failures.push(`${what}: a 5xx`)
    if (status >= 400 && status !== 501 && typeof parsed?.error !== 'string' && typeof (parsed?.error as { message?: unknown } | undefined)?.message !== 'string') failures.push(`${what}: no sentence in ${body.slice(0, 80)}`)
    if (credential.length >= 16 && credential !== valid && body.includes(credential)) failures.push(`${what}: the credential came back`)
  }
  t.comment(`seed ${seed}, ${ROUNDS} requests; statuses seen: ${[...seen].sort(([a], [b]) => a - b).map(([status, count]) => `${status} x${count}`).join(', ')}`)
  t.same(failures, [], 'no 5xx, a sentence in every refusal, no credential echoed')
  t.ok((seen.get(401) ?? 0) > 0 && (seen.get(200) ?? 0) > 0, 'the run reached both refusals and successes')
})
