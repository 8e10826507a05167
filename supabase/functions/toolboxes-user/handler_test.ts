// toolboxes-user: POST toolboxes-user/{toolboxId}/refresh-status refreshes
// the toolbox and answers its row afterwards (never its heartbeat token);
// every other path is a 404 that says what is served.
import * as assert from '../_test/assert.ts'
import { agentReplies, fakeAgent, type AgentReply } from '../_test/fake-agent.ts'
import { createWorld, request, type World } from '../_test/fixtures.ts'
import { handleRequest } from './handler.ts'

const NOW = new Date('2025-06-19T10:00:00.000Z')

/** jwt null: no Authorization header. */
async function call(world: World, script: () => AgentReply, method: string, path: string, jwt: string | null = world.userJwt) {
  const agent = fakeAgent(script)
  const response = await handleRequest(request(method, `/toolboxes-user${path}`, jwt ?? undefined), {
    db: world.db,
    agent: { token: 'backend-key-0123456789abcdef0123', port: 30000, fetch: agent.fetch, statusTimeoutMs: 100 },
    now: () => NOW
  })
  return { status: response.status, body: await response.json(), agent }
}

Deno.test('refresh-status at the toolboxes-user path answers the refreshed row without its token', async () => {
  const world = await createWorld()
  try {
    await world.standIn.update('account_tool_environments', world.toolboxId, { status: 'awaiting_heartbeat', dtma_bearer_token: 'dtma-token-secret-0123456789abcdef' })
    const reply = await call(world, () => agentReplies.status([]), 'POST', `/${world.toolboxId}/refresh-status`)
    assert.equal(reply.status, 200)
    assert.equal(reply.body.id, world.toolboxId)
    assert.equal(reply.body.status, 'active')
    assert.equal(reply.body.dtma_last_known_version, '0.1.0')
    assert.sameInstant(reply.body.last_heartbeat_at, NOW)
    assert.ok(!('dtma_bearer_token' in reply.body))
    assert.ok(!JSON.stringify(reply.body).includes('dtma-token-secret-0123456789abcdef'))
    assert.deepEqual(reply.agent.calls.map((c) => `${c.method} ${c.path}`), ['GET /status'])
  } finally {
    await world.close()
  }
})

Deno.test('the row says unresponsive after a failed refresh, and pending toolboxes are left as they are', async () => {
  const world = await createWorld()
  try {
    const down = await call(world, () => agentReplies.error(500, 'DTMA_INTERNAL', 'boom'), 'POST', `/${world.toolboxId}/refresh-status`)
    assert.equal(down.status, 200)
    assert.equal(down.body.status, 'unresponsive')
    assert.equal(down.body.dtma_health_details_json.error, 'boom')
    await world.standIn.update('account_tool_environments', world.toolboxId, { status: 'provisioning', public_ip_address: null })
    const pending = await call(world, () => 'hang', 'POST', `/${world.toolboxId}/refresh-status`)
    assert.equal(pending.body.status, 'provisioning')
    assert.equal(pending.agent.calls.length, 0)
  } finally {
    await world.close()
  }
})

Deno.test('other toolboxes-user paths are a 404 that says what is served; auth and ownership hold', async () => {
  const world = await createWorld()
  try {
    for (const path of ['', `/${world.toolboxId}`, `/${world.toolboxId}/deprovision`, `/${world.toolboxId}/refresh-status/x`]) {
      const reply = await call(world, () => 'hang', 'POST', path)
      assert.equal(reply.status, 404, path)
      assert.deepEqual(reply.body, { success: false, error: 'DTMA serves only POST toolboxes-user/{toolboxId}/refresh-status of toolboxes-user', code: 'DTMA_ROUTE_NOT_FOUND' })
    }
    assert.equal((await call(world, () => 'hang', 'GET', `/${world.toolboxId}/refresh-status`)).status, 405)
    assert.equal((await call(world, () => 'hang', 'POST', `/${world.toolboxId}/refresh-status`, null)).status, 401)
    const foreign = await call(world, () => 'hang', 'POST', `/${world.toolboxId}/refresh-status`, world.otherUserJwt)
    assert.equal(foreign.status, 404)
    assert.equal(foreign.agent.calls.length, 0)
  } finally {
    await world.close()
  }
})
