// Failed authentications are limited per client address (IPv6: per /64):
// after the limit an address gets 429 with Retry-After for a missing or wrong
// token until its window ends, while a valid token is always served (the
// backend calls from shared addresses); other addresses and earlier
// successes are unaffected; the table of addresses stays bounded.
import { request } from 'node:http'
import { ErrorBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { AuthFailureLimiter, clientKey } from '../../src/plugins/app/auth-failure-limiter.ts'
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
  t.equal((await getFrom(attacker, agent.port, '/tools', 'wrong-1')).status, 401, 'a credential that proves nothing: 401')
  t.equal((await getFrom(attacker, agent.port, '/tools', 'wrong-2')).status, 401)
  const limited = await getFrom(attacker, agent.port, '/tools', 'wrong-3')
  t.equal(limited.status, 429, 'the next one: 429')
  t.ok(Value.Check(ErrorBody, limited.body), 'contract error body')
  t.match(limited.body, { code: 'DTMA_RATE_LIMITED' })
  t.ok(Number(limited.retryAfter) >= 1 && Number(limited.retryAfter) <= 2, `Retry-After ${limited.retryAfter}`)
  t.equal((await getFrom(attacker, agent.port, '/tools', TOKEN)).status, 200, 'a valid token from that address is served')
  t.equal((await getFrom(attacker, agent.port, '/tools', 'wrong-4')).status, 429, 'and lifts nothing: a wrong one still waits')
  t.equal((await getFrom(attacker, agent.port, '/tools')).status, 429, 'so does a missing one')
  t.equal((await getFrom('127.0.0.4', agent.port, '/tools', 'wrong-5')).status, 401, 'another address is not blocked')
  t.equal((await getFrom(attacker, agent.port, '/health')).status, 200, 'public routes stay open')
  t.ok(agent.logs.some((line) => line.includes('address blocked') && line.includes(attacker)), 'the block is logged once with the address')

  await new Promise((resolve) => setTimeout(resolve, 2100))
  t.equal((await getFrom(attacker, agent.port, '/tools', 'wrong-6')).status, 401, 'after the window a wrong token is a 401 again')
})

t.test('the matrix: blocked or not, a valid, wrong or missing token, on a bearer route and on a public one', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_AUTH_FAILURE_LIMIT: '3', DTMA_AUTH_FAILURE_WINDOW_S: '60' } })
  const blocked = '127.0.0.5'
  const clean = '127.0.0.6'
  for (const token of ['wrong-1', 'wrong-2', 'wrong-3']) await getFrom(blocked, agent.port, '/tools', token)
  const expected: Array<[string, string | undefined, number, boolean | undefined]> = [
    // address, token, status of GET /tools, whether GET /status answers in full
    [clean, TOKEN, 200, true],
    [clean, 'wrong', 401, false],
    [clean, undefined, 401, false],
    [blocked, TOKEN, 200, true],
    [blocked, 'wrong', 429, false],
    [blocked, undefined, 429, false]
  ]
  for (const [address, token, status, full] of expected) {
    const label = `${address === blocked ? 'blocked' : 'clean'} address, ${token === TOKEN ? 'valid' : (token ?? 'no')} token`
    const tools = await getFrom(address, agent.port, '/tools', token)
    t.equal(tools.status, status, `${label}: /tools ${status}`)
    if (status === 429) t.ok(Number(tools.retryAfter) >= 1, `${label}: Retry-After ${tools.retryAfter}`)
    const status200 = await getFrom(address, agent.port, '/status', token)
    t.equal(status200.status, 200, `${label}: /status is public`)
    t.equal((status200.body as { tool_instances_hidden?: unknown }).tool_instances_hidden === undefined, full, `${label}: /status ${full ? 'in full' : 'minimal'}`)
  }
  t.equal((await getFrom(clean, agent.port, '/tools', 'wrong')).status, 429, "the clean address's three failures (a wrong token on /status counts, none does not) block it too")
  t.equal((await getFrom(clean, agent.port, '/tools', TOKEN)).status, 200, 'and its valid token is still served')
})

t.test('IPv6 clients count per /64; IPv4-mapped addresses count as the IPv4 address', async (t) => {
  t.equal(clientKey('127.0.0.3'), '127.0.0.3')
  t.equal(clientKey('::ffff:127.0.0.3'), '127.0.0.3')
  t.equal(clientKey('::FFFF:10.1.2.3'), '10.1.2.3')
  t.equal(clientKey('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.equal(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:fffe'), '2001:db8:1:2::/64', 'leading zeros and the host half do not matter')
  t.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64')
  t.equal(clientKey('::1'), '0:0:0:0::/64')
  t.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone is dropped')
  t.equal(clientKey('64:ff9b:1:2:3:4:1.2.3.4'), '64:ff9b:1:2::/64', 'an IPv4 tail')
  t.equal(clientKey('not an address'), 'not an address')
  // Fastify's request.ip is undefined once the client's socket is gone (the fuzz test's slow and cut clients).
  t.equal(clientKey(undefined), 'unknown', 'no address: one key for all, not a TypeError')

  const limiter = new AuthFailureLimiter({ limit: 3, windowMs: 60_000, now: () => 0 })
  limiter.recordFailure('2001:db8:1:2::1')
  limiter.recordFailure('2001:db8:1:2::2')
  t.equal(limiter.recordFailure('2001:db8:1:2:aaaa::3'), true, 'three hosts of one /64 reach the limit together')
  t.equal(limiter.retryAfterSeconds('2001:db8:1:2::99'), 60, 'the whole /64 is blocked')
  t.equal(limiter.retryAfterSeconds('2001:db8:1:3::1'), undefined, 'the next /64 is not')
  limiter.recordFailure('::ffff:10.0.0.1')
  limiter.recordFailure('10.0.0.1')
  t.equal(limiter.recordFailure('::ffff:10.0.0.1'), true, 'an IPv4 client counts once, however it is written')
  t.equal(limiter.retryAfterSeconds('10.0.0.2'), undefined, 'IPv4 addresses count one by one')
  t.equal(limiter.trackedAddresses, 2)
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
