// What a refresh writes, counted by the database: each row's xmin (the
// transaction that wrote its current version) before and after a refresh,
// so any UPDATE of a row shows, even one that sets the values it had. A
// refresh that finds what the last one found, at a later time and with the
// MCP server's checked_at and ping time changed, writes the toolbox row
// only; a changed status writes that instance's row and the toolbox's. Each
// refresh is one write request (the dtma_refresh_toolbox call), and only the
// service role may make it.
import { createClient } from '@supabase/supabase-js'
import * as assert from '../_test/assert.ts'
import { agentReplies, fakeAgent, toolInstance } from '../_test/fake-agent.ts'
import { ANON_KEY, createWorld, request, seedInstance, type World } from '../_test/fixtures.ts'
import type { McpInfo, ToolInstance } from '../../../packages/contract/src/index.ts'
import { handleRequest } from './handler.ts'

const FIRST = new Date('2025-06-19T10:00:00.000Z')

async function refresh(world: World, instances: ToolInstance[], now: Date) {
  const agent = fakeAgent(() => agentReplies.status(instances, now.toISOString()))
  const before = world.standIn.requests.length
  const response = await handleRequest(request('POST', '/refresh-status', world.userJwt, { toolboxId: world.toolboxId }), {
    db: world.db,
    agent: { token: 'backend-key-0123456789abcdef0123', port: 30000, fetch: agent.fetch, statusTimeoutMs: 100 },
    now: () => now
  })
  assert.equal(response.status, 200, await response.clone().text())
  const writes = world.standIn.requests.slice(before).filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`)
  return { body: await response.json(), writes }
}

/** Row id -> xmin, for the toolbox and its instances. */
async function versions(world: World): Promise<Map<string, string>> {
  const rows = await world.standIn.database.query<{ id: string; xmin: string }>(
    `select id::text, xmin::text from public.account_tool_environments where id = $1
     union all select id::text, xmin::text from public.account_tool_instances where account_tool_environment_id = $1`,
    [world.toolboxId]
  )
  return new Map(rows.map((row) => [row.id, row.xmin]))
}

const written = (before: Map<string, string>, after: Map<string, string>) => [...after].filter(([id, xmin]) => before.get(id) !== xmin).map(([id]) => id).sort()

function mcpAt(at: Date, pingMs: number): McpInfo {
  return {
    transport: 'stdio', endpoint: '/mcp', port: null, capabilities: ['tools'], url_path: '/tools/mcp/mcp', status: 'ready', protocol_version: '2025-06-18',
    server_info: { name: 'context7', version: '1.0.0' }, server_capabilities: ['tools'], last_ping_ms: pingMs, tools_count: 2, tools_fingerprint: 'f'.repeat(64),
    checked_at: at.toISOString(), last_error: null
  } as McpInfo
}

Deno.test('an unchanged refresh writes the toolbox row only; a changed status writes that instance row too', async () => {
  const world = await createWorld()
  try {
    const [a, b, mcp] = [await seedInstance(world, world.toolboxId, 'a'), await seedInstance(world, world.toolboxId, 'b'), await seedInstance(world, world.toolboxId, 'mcp')]
    await world.standIn.update('account_tool_instances', mcp, { mcp_discovery_metadata: { adminDeployed: true } })
    const reply = (at: Date, bStatus: ToolInstance['status']) => [
      toolInstance({ account_tool_instance_id: a, instance_name_on_toolbox: 'a', status: 'running' }),
      toolInstance({ account_tool_instance_id: b, instance_name_on_toolbox: 'b', status: bStatus }),
      toolInstance({ account_tool_instance_id: mcp, instance_name_on_toolbox: 'mcp', status: 'running', mcp: mcpAt(at, 1 + at.getMinutes()) })
    ]

    const v0 = await versions(world)
    const first = await refresh(world, reply(FIRST, 'running'), FIRST)
    const v1 = await versions(world)
    assert.deepEqual(first.writes, ['POST /rest/v1/rpc/dtma_refresh_toolbox'], 'one write request a refresh')
    assert.deepEqual(written(v0, v1), [world.toolboxId, a, b, mcp].sort(), 'the first refresh: every row changes')
    assert.equal(first.body.data[0].instancesUpdated, 3)

    const second = new Date(FIRST.getTime() + 60_000)
    const unchanged = await refresh(world, reply(second, 'running'), second)
    const v2 = await versions(world)
    const seen2 = written(v1, v2)
    console.log(`unchanged refresh: expected rows written [toolbox]; seen ${seen2.length} row(s), toolbox ${seen2.includes(world.toolboxId)}`)
    assert.deepEqual(seen2, [world.toolboxId], 'only the toolbox row')
    assert.deepEqual(unchanged.writes, ['POST /rest/v1/rpc/dtma_refresh_toolbox'])
    assert.equal(unchanged.body.data[0].instancesUpdated, 3, 'still mirrored, though not rewritten')
    assert.sameInstant((await world.standIn.row('account_tool_environments', world.toolboxId))?.last_heartbeat_at, second)
    const mcpRow = await world.standIn.row('account_tool_instances', mcp)
    assert.sameInstant(mcpRow?.last_heartbeat_from_dtma, FIRST, 'the refresh that brought the last change')
    assert.equal((mcpRow?.mcp_discovery_metadata as { dtma: { checked_at: string } }).dtma.checked_at, FIRST.toISOString())

    const third = new Date(FIRST.getTime() + 120_000)
    await refresh(world, reply(third, 'stopped'), third)
    const v3 = await versions(world)
    const seen3 = written(v2, v3)
    console.log(`b stopped: expected rows written [toolbox, b]; seen ${JSON.stringify(seen3.map((id) => id === b ? 'b' : id === world.toolboxId ? 'toolbox' : id))}`)
    assert.deepEqual(seen3, [world.toolboxId, b].sort(), 'the toolbox and the instance whose status changed')
    assert.equal((await world.standIn.row('account_tool_instances', b))?.status_on_toolbox, 'stopped')
    assert.deepEqual(await world.standIn.statusHistory(b), ['deploying', 'running', 'stopped'])

    // The backend's metadata changes between refreshes: kept, and DTMA's part not rewritten for it.
    await world.standIn.update('account_tool_instances', mcp, { mcp_discovery_metadata: { ...(mcpRow?.mcp_discovery_metadata as object), adminDeployed: false } })
    const v4 = await versions(world)
    const fourth = new Date(FIRST.getTime() + 180_000)
    await refresh(world, reply(fourth, 'stopped'), fourth)
    assert.deepEqual(written(v4, await versions(world)), [world.toolboxId], "another's part of the metadata is not DTMA's to write")
    assert.equal(((await world.standIn.row('account_tool_instances', mcp))?.mcp_discovery_metadata as { adminDeployed: boolean }).adminDeployed, false)
    assert.deepEqual(world.standIn.violations, [])
  } finally {
    await world.close()
  }
})

Deno.test('dtma_refresh_toolbox is for the service role only', async () => {
  const world = await createWorld()
  try {
    const args = { p_toolbox_id: world.toolboxId, p_toolbox: { status: 'error' }, p_instances: [] }
    for (const [who, jwt] of [['the owner', world.userJwt], ['anon', ANON_KEY]] as const) {
      const client = createClient(world.standIn.url, ANON_KEY, {
        auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
        global: { headers: { Authorization: `Bearer ${jwt}` } }
      })
      const { error, status } = await client.rpc('dtma_refresh_toolbox', args)
      console.log(`${who} calls dtma_refresh_toolbox: expected refused (42501); seen ${status} ${error?.code}`)
      assert.equal(error?.code, '42501')
    }
    assert.equal((await world.standIn.row('account_tool_environments', world.toolboxId))?.status, 'active', 'the row is untouched')
    const { error } = await world.db.rpc('dtma_refresh_toolbox', { ...args, p_toolbox: { status: 'unresponsive' } })
    assert.equal(error, null, 'the service role may')
    assert.equal((await world.standIn.row('account_tool_environments', world.toolboxId))?.status, 'unresponsive')
  } finally {
    await world.close()
  }
})
