// registry's `audit` operation on the Supabase stand-in (real PostgreSQL,
// the migrations' own rules): a toolbox's batch of MCP calls lands in
// dtma_mcp_audit under the toolbox its token names; a batch with a row of
// another toolbox's instance is refused whole (403); a batch sent again adds
// nothing; a row the table refuses is a 400. Then the reads, as an attacker
// would try them: the owner reads their calls, another user reads none, the
// anonymous key nothing, and a user cannot write a row. Each case prints
// what it expected and what it saw.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import type { AuditRecord } from '../../../packages/contract/src/index.ts'
import * as assert from '../_test/assert.ts'
import { ANON_KEY, createWorld, seedInstance, type World } from '../_test/fixtures.ts'
import { handleRequest } from './handler.ts'

const TOKEN = 'audit-token-of-this-toolbox-0123456789abcdef'

function call(instanceId: string, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id: crypto.randomUUID(),
    at: new Date().toISOString(),
    caller: 'agent-under-test',
    instance_name_on_toolbox: 'a',
    account_tool_instance_id: instanceId,
    method: 'tools/call',
    target: 'echo',
    listed: true,
    args_sha256: 'a'.repeat(64),
    duration_ms: 1.25,
    outcome: 'ok',
    error_code: null,
    reason: null,
    ...extra
  }
}

async function post(world: World, body: unknown) {
  const request = new Request('http://functions.test/functions/v1/registry', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) })
  const response = await handleRequest(request, { db: world.db })
  return { status: response.status, body: await response.json() }
}

const browser = (world: World, jwt: string): SupabaseClient =>
  createClient(world.standIn.url, ANON_KEY, { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false }, global: { headers: { Authorization: `Bearer ${jwt}` } } })

function expectCase(what: string, expected: string, seen: string): void {
  console.log(`${what}: expected ${expected}, seen ${seen}`)
  assert.equal(seen, expected, what)
}

Deno.test('registry audit: a batch of calls under the token\'s toolbox, refused whole with another toolbox\'s row, read only by the owner', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { dtma_bearer_token: TOKEN })
    const mine = await seedInstance(world, world.toolboxId, 'a')
    const otherToolbox = String((await world.standIn.seed('account_tool_environments', { user_id: crypto.randomUUID(), status: 'active' })).id)
    const theirs = await seedInstance(world, otherToolbox, 'b')

    const batch = [call(mine), call(mine, { outcome: 'refused', reason: 'DTMA_TOOL_NOT_GRANTED', target: 'secret', listed: false }), call(mine, { outcome: 'protocol-error', error_code: -32602 })]
    const ok = await post(world, { operation: 'audit', rows: batch })
    expectCase('a batch of three of my calls', '200 3', `${ok.status} ${ok.body.accepted}`)
    const again = await post(world, { operation: 'audit', rows: batch })
    expectCase('the same batch again (a retry)', '200 0', `${again.status} ${again.body.accepted}`)

    const mixed = await post(world, { operation: 'audit', rows: [call(mine), call(theirs)] })
    expectCase("a batch with a row of another toolbox's instance", '403 DTMA_FORBIDDEN', `${mixed.status} ${mixed.body.code}`)
    const unknown = await post(world, { operation: 'audit', rows: [call(crypto.randomUUID())] })
    expectCase('a row of an unknown instance', '403 DTMA_FORBIDDEN', `${unknown.status} ${unknown.body.code}`)
    const badTime = await post(world, { operation: 'audit', rows: [call(mine, { at: 'not a time' })] })
    expectCase('a row the table refuses (its time)', '400 DTMA_BAD_REQUEST', `${badTime.status} ${badTime.body.code}`)
    const withValue = await post(world, { operation: 'audit', rows: [{ ...call(mine), arguments: { text: 'a value' } }] })
    expectCase('a row with the arguments in it', '400', `${withValue.status}`)

    const stored = await world.standIn.rows('dtma_mcp_audit')
    assert.equal(stored.length, 3, 'only the first batch is stored')
    assert.ok(stored.every((row) => row.account_tool_environment_id === world.toolboxId && row.account_tool_instance_id === mine))
    assert.deepEqual(stored.map((row) => row.outcome).sort(), ['ok', 'protocol-error', 'refused'])

    const owner = await browser(world, world.userJwt).from('dtma_mcp_audit').select('id')
    expectCase('the owner reads the calls of their toolbox', '200 3', `${owner.status} ${owner.data?.length}`)
    const stranger = await browser(world, world.otherUserJwt).from('dtma_mcp_audit').select('id')
    expectCase("another user reads them (row-level security)", '200 0', `${stranger.status} ${stranger.data?.length}`)
    const anonymous = await browser(world, ANON_KEY).from('dtma_mcp_audit').select('id')
    expectCase('the anonymous key reads them', '401 42501', `${anonymous.status} ${anonymous.error?.code}`)
    const planted = await browser(world, world.userJwt).from('dtma_mcp_audit').insert({ ...call(mine), account_tool_environment_id: world.toolboxId })
    expectCase('the owner writes a row directly', '403 42501', `${planted.status} ${planted.error?.code}`)
    const rpc = await browser(world, world.userJwt).rpc('dtma_audit_insert', { p_account_tool_environment_id: world.toolboxId, p_rows: [call(mine)] })
    expectCase('a user calls the audit writer', '403 42501', `${rpc.status} ${rpc.error?.code}`)
    assert.equal((await world.standIn.rows('dtma_mcp_audit')).length, 3, 'nothing more written')
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})
