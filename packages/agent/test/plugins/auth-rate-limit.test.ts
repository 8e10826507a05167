// Failed authentications are limited per client address: after the limit an
// address gets 429 with Retry-After (even with a valid token, so a guess
// cannot be told right from wrong) until its window ends; other addresses and
// earlier successes are unaffected; the table of addresses stays bounded.
import { request } from 'node:http'
import { ErrorBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { AuthFailureLimiter } from '../../src/plugins/app/auth-failure-limiter.ts'
import { startTestAgent, TOKEN } from '../helpers/agent.ts'

/** GET from a chosen loopback source address (all of 127/8 reaches 127.0.0.1). */
function getFrom(localAddress: string, port: number, path: string, token?: string): Promise<{ status: number; retryAfter?: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const req = request({ host: '127.0.0.1', port, path, localAddress, headers }, (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body: text.startsWith('{') ? (JSON.parse(text) as unknown) : text }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('after the limit an address gets 429 with Retry-After until its window ends', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_AUTH_FAILURE_LIMIT: '3', DTMA_AUTH_FAILURE_WINDOW_S: '2' } })
  const attacker = '127.0.0.3'
  for (let i = 0; i < 20; i++) t.equal((await getFrom(attacker, agent.port, '/tools', TOKEN)).status, 200, 'successes do not count')
  t.equal((await getFrom(attacker, agent.port, '/tools')).status, 401)
  t.equal((await getFrom(attacker, agent.port, '/tools', 'wrong-1')).status, 403)
  t.equal((await getFrom(attacker, agent.port, '/tools', 'wrong-2')).status, 403)
  const limited = await getFrom(attacker, agent.port, '/tools', 'wrong-3')
  t.equal(limited.status, 429, 'the next one: 429')
  t.ok(Value.Check(ErrorBody, limited.body), 'contract error body')
  t.match(limited.body, { code: 'DTMA_RATE_LIMITED' })
  t.ok(Number(limited.retryAfter) >= 1 && Number(limited.retryAfter) <= 2, `Retry-After ${limited.retryAfter}`)
  t.equal((await getFrom(attacker, agent.port, '/tools', TOKEN)).status, 429, 'even a valid token from that address waits')
  t.equal((await getFrom('127.0.0.4', agent.port, '/tools', TOKEN)).status, 200, 'another address is served')
  t.equal((await getFrom(attacker, agent.port, '/health')).status, 200, 'public routes stay open')
  t.ok(agent.logs.some((line) => line.includes('address blocked') && line.includes(attacker)), 'the block is logged once with the address')

  await new Promise((resolve) => setTimeout(resolve, 2100))
  t.equal((await getFrom(attacker, agent.port, '/tools', TOKEN)).status, 200, 'after the window the address is served again')
})

t.test('the limiter forgets expired windows and holds at most maxAddresses', async (t) => {
  let now = 0
  const limiter = new AuthFailureLimiter({ limit: 2, windowMs: 1000, maxAddresses: 100, now: () => now })
  t.equal(limiter.recordFailure('a'), false)
  t.equal(limiter.recordFailure('a'), true, 'the failure that reaches the limit blocks')
  t.equal(limiter.retryAfterSeconds('a'), 1)
  now = 999
  t.equal(limiter.retryAfterSeconds('a'), 1, 'still blocked at the end of the window')
  now = 1000
  t.equal(limiter.retryAfterSeconds('a'), undefined, 'the window is over')
  limiter.recordFailure('oldest')
  limiter.recordFailure('oldest')
  t.equal(limiter.retryAfterSeconds('oldest'), 1, 'blocked')
  for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`)
  t.ok(limiter.trackedAddresses <= 100, `bounded: ${limiter.trackedAddresses} addresses tracked`)
  t.equal(limiter.retryAfterSeconds('oldest'), undefined, 'when full, the oldest window is forgotten first')
})
