// toolbox-enroll against the Supabase stand-in on PostgreSQL: the token
// from the body or the Authorization header goes to the migration's
// dtma_redeem_enrolment, whose refusals (PT401 unknown, PT409 used, PT410
// expired) become clear JSON errors, and whose answer becomes the toolbox's
// credentials with the fleet key only as its hash. The single use and the
// hour are the SQL function's own (see also
// packages/agent/test/enrolment/enrolment.test.ts).
import type { SupabaseClient } from '@supabase/supabase-js'
import * as assert from '../_test/assert.ts'
import { createWorld } from '../_test/fixtures.ts'
import { handleRequest, sha256Hex } from './handler.ts'

const FLEET_KEY = 'fleet-key-for-tests-0123456789abcdef'

Deno.test('toolbox-enroll answers credentials once, and a clear error for a used, expired or unknown token', async () => {
  const world = await createWorld()
  try {
    // The backend issues a token as the service role; a scalar function answers its value.
    const issue = async () => {
      const { data, error } = await (world.db as unknown as SupabaseClient).rpc('dtma_issue_enrolment', { p_account_tool_environment_id: world.toolboxId })
      assert.equal(error, null)
      assert.match(String(data), /^dtma_enrol_[0-9a-f]{64}$/)
      return String(data)
    }
    const good = await issue()
    const expired = await issue()
    await world.standIn.database.query(`update public.dtma_toolbox_enrolments set expires_at = now() - interval '1 second' where token_sha256 = $1`, [await sha256Hex(expired)])
    const settings = { backendApiKeySha256: await sha256Hex(FLEET_KEY), functionsUrl: 'https://p.example/functions/v1', supabaseUrl: 'https://p.example', anonKey: 'anon' }
    const enrol = async (init: RequestInit) => {
      const response = await handleRequest(new Request('http://functions.test/functions/v1/toolbox-enroll', init), { db: world.db, settings })
      return { status: response.status, body: await response.json() }
    }
    const first = await enrol({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enrolment_token: good }) })
    assert.equal(first.status, 200)
    const minted = String((await world.standIn.row('account_tool_environments', world.toolboxId))?.dtma_bearer_token)
    assert.match(minted, /^[0-9a-f]{64}$/, 'the toolbox got a fresh per-VM token')
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
      [{ method: 'POST', headers: { authorization: `Bearer ${good}` } }, 409, 'DTMA_ENROLMENT_USED'],
      [{ method: 'POST', body: JSON.stringify({ enrolment_token: expired }) }, 410, 'DTMA_ENROLMENT_EXPIRED'],
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
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})
