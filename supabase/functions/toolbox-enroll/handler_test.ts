// toolbox-enroll against the Supabase stand-in: the token from the body or
// the Authorization header goes to dtma_redeem_enrolment, whose refusals
// (PT401 unknown, PT409 used, PT410 expired) become clear JSON errors, and
// whose answer becomes the toolbox's credentials with the fleet key only as
// its hash. The single use and the hour are SQL, tested on real PostgreSQL
// (packages/agent/test/enrolment/enrolment.test.ts).
import * as assert from '../_test/assert.ts'
import { createWorld } from '../_test/fixtures.ts'
import { RpcFailure } from '../_test/supabase-stand-in.ts'
import { handleRequest, sha256Hex } from './handler.ts'

const FLEET_KEY = 'fleet-key-for-tests-0123456789abcdef'

Deno.test('toolbox-enroll answers credentials once, and a clear error for a used, expired or unknown token', async () => {
  const world = createWorld()
  try {
    const used = new Set<string>()
    const minted = 'f'.repeat(64)
    world.standIn.rpcs.set('dtma_redeem_enrolment', (args) => {
      const token = String(args.p_token)
      if (token === 'expired') throw new RpcFailure('PT410', 'this enrolment token expired: ask the backend for a new one')
      if (token !== 'good') throw new RpcFailure('PT401', 'unknown enrolment token')
      if (used.has(token)) throw new RpcFailure('PT409', 'this enrolment token was used already: ask the backend for a new one')
      used.add(token)
      return [{ account_tool_environment_id: world.toolboxId, dtma_bearer_token: minted }]
    })
    const settings = { backendApiKeySha256: await sha256Hex(FLEET_KEY), functionsUrl: 'https://p.example/functions/v1', supabaseUrl: 'https://p.example', anonKey: 'anon' }
    const enrol = async (init: RequestInit) => {
      const response = await handleRequest(new Request('http://functions.test/functions/v1/toolbox-enroll', init), { db: world.db, settings })
      return { status: response.status, body: await response.json() }
    }
    const first = await enrol({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enrolment_token: 'good' }) })
    assert.equal(first.status, 200)
    assert.deepEqual(first.body, {
      success: true,
      account_tool_environment_id: world.toolboxId,
      dtma_bearer_token: minted,
      backend_api_key_sha256: await sha256Hex(FLEET_KEY),
      functions_url: 'https://p.example/functions/v1',
      supabase_url: 'https://p.example',
      supabase_anon_key: 'anon'
    })
    assert.ok(!JSON.stringify(first.body).includes(FLEET_KEY), 'the fleet key itself never leaves the backend')
    const cases: Array<[RequestInit, number, string]> = [
      [{ method: 'POST', headers: { authorization: 'Bearer good' } }, 409, 'DTMA_ENROLMENT_USED'],
      [{ method: 'POST', body: JSON.stringify({ enrolment_token: 'expired' }) }, 410, 'DTMA_ENROLMENT_EXPIRED'],
      [{ method: 'POST', body: JSON.stringify({ enrolment_token: 'guess' }) }, 401, 'DTMA_UNAUTHORIZED'],
      [{ method: 'POST' }, 401, 'DTMA_UNAUTHORIZED'],
      [{ method: 'POST', body: JSON.stringify({ enrolment_token: 7 }) }, 400, 'DTMA_BAD_REQUEST'],
      [{ method: 'GET' }, 405, 'DTMA_ROUTE_NOT_FOUND']
    ]
    for (const [init, status, code] of cases) {
      const reply = await enrol(init)
      assert.equal(reply.status, status, JSON.stringify(init))
      assert.equal(reply.body.code, code)
      assert.equal(reply.body.success, false)
    }
    assert.deepEqual(world.standIn.violations.filter((v) => !v.startsWith('rpc')), [])
  } finally {
    await world.close()
  }
})
