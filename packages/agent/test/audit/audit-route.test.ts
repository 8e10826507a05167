// GET /audit as its callers would try it: its filters (instance, subject,
// since, until, limit; newest first) over rows in the agent's own SQLite
// file, a token narrowed to one instance reading only that instance's calls,
// and the refusals (no credential, a token without logs:read, the fleet key,
// a bad query), each printed as `credential | query | expected | seen`.
// The rows are written through the audit trail's table (audit-log.ts) on
// the agent's store file, as the trail writes them.
import { randomUUID } from 'node:crypto'
import { signToolboxToken, type AuditRecord, type Scope } from '@dtma/contract'
import t from 'tap'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { FLEET_KEY, startTestAgent, TEST_AUDIENCE, TOKEN, VM_TOKEN } from '../helpers/agent.ts'

const T0 = Date.parse('2026-12-05T08:00:00.000Z')

function row(instance: string, id: string, caller: string, minute: number): AuditRecord {
  return {
    id: randomUUID(), at: new Date(T0 + minute * 60_000).toISOString(), caller, instance_name_on_toolbox: instance, account_tool_instance_id: id,
    method: 'tools/call', target: 'echo', listed: true, args_sha256: '0'.repeat(64), duration_ms: 1, outcome: 'ok', error_code: null, reason: null
  }
}

const token = (scopes: Scope[], instances?: string[]) =>
  signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes, lifetimeSeconds: 600, subject: 'audit-reader', ...(instances !== undefined && { instances }) })

t.test('GET /audit filters, narrows and refuses', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_AUDIT_MAX_AGE_S: String(10 * 365 * 86400) } })
  const [idA, idB] = [randomUUID(), randomUUID()]
  const log = new AuditLog(agent.store.path, { maxRows: 1000, maxAgeMs: 10 * 365 * 86400_000 })
  t.teardown(() => log.close())
  // a: alice at minutes 0..4; b: bob at 5..7; one fleet-key call at 8.
  for (let minute = 0; minute < 5; minute++) log.add(row('a', idA, 'alice', minute), false)
  for (let minute = 5; minute < 8; minute++) log.add(row('b', idB, 'bob', minute), false)
  log.add(row('a', idA, 'fleet key', 8), false)
  // Written by this connection's flush (the agent's own trail flushes its own before a read).
  log.flush()

  const get = async (query: string, credential: string | undefined) => {
    const response = await fetch(`${agent.baseUrl}/audit${query}`, { headers: credential === undefined ? {} : { authorization: `Bearer ${credential}` } })
    const body = (await response.json()) as { data?: AuditRecord[]; code?: string }
    return { status: response.status, body }
  }
  const minutes = (rows: AuditRecord[] | undefined) => (rows ?? []).map((r) => (Date.parse(r.at) - T0) / 60_000).join(',')
  const seconds = (minute: number) => (T0 + minute * 60_000) / 1000
  const cases: Array<[string, string, string | undefined, string]> = [
    ['full token', '', TOKEN, '200 8,7,6,5,4,3,2,1,0'],
    ['full token', '?instance=a', TOKEN, '200 8,4,3,2,1,0'],
    ['full token', '?subject=bob', TOKEN, '200 7,6,5'],
    ['full token', '?subject=fleet%20key', TOKEN, '200 8'],
    ['full token', `?since=${seconds(3)}&until=${seconds(6)}`, TOKEN, '200 5,4,3'],
    ['full token', '?limit=2', TOKEN, '200 8,7'],
    ['full token', '?instance=a&subject=alice&limit=3', TOKEN, '200 4,3,2'],
    ['full token', `?since=${seconds(100)}`, TOKEN, '200 '],
    ['logs:read narrowed to b', '', await token(['logs:read'], [idB]), '200 7,6,5'],
    ['logs:read narrowed to b', '?instance=a', await token(['logs:read'], [idB]), '200 '],
    ['logs:read', '?instance=b', await token(['logs:read']), '200 7,6,5'],
    ['no credential', '', undefined, '401 DTMA_UNAUTHORIZED'],
    ['mcp only', '', await token(['mcp']), '403 DTMA_FORBIDDEN'],
    ['tools:read, tools:write', '', await token(['tools:read', 'tools:write']), '403 DTMA_FORBIDDEN'],
    ['fleet key', '', FLEET_KEY, '403 DTMA_FORBIDDEN'],
    ['full token', '?limit=0', TOKEN, '400 DTMA_BAD_REQUEST'],
    ['full token', '?limit=5000', TOKEN, '400 DTMA_BAD_REQUEST'],
    ['full token', '?since=yesterday', TOKEN, '400 DTMA_BAD_REQUEST'],
    ['full token', '?tool=echo', TOKEN, '400 DTMA_BAD_REQUEST']
  ]
  for (const [credential, query, secret, expected] of cases) {
    const { status, body } = await get(query, secret)
    const seen = status === 200 ? `${status} ${minutes(body.data)}` : `${status} ${body.code}`
    t.comment(`${credential} | GET /audit${query} | ${expected} | ${seen}`)
    t.equal(seen, expected, `${credential} ${query}`)
  }
})

t.test('the trail is bounded by count and by age, pruned as it is written', async (t) => {
  const agent = await startTestAgent(t)
  const log = new AuditLog(agent.store.path, { maxRows: 5, maxAgeMs: 3600_000 })
  t.teardown(() => log.close())
  const now = Date.now()
  const at = (agoMinutes: number) => new Date(now - agoMinutes * 60_000).toISOString()
  log.add({ ...row('a', randomUUID(), 'half an hour ago', 0), at: at(30) }, true)
  log.add({ ...row('a', randomUUID(), 'two hours ago', 0), at: at(120) }, true)
  t.same(log.list({}).map((r) => r.caller), ['half an hour ago'], 'a row older than DTMA_AUDIT_MAX_AGE_S goes with the write')
  log.add({ ...row('a', randomUUID(), 'queued', 0), at: at(1) }, true)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const other = new AuditLog(agent.store.path, { maxRows: 5, maxAgeMs: 3600_000 })
  t.same(other.list({}).map((r) => r.caller), ['queued', 'half an hour ago'], 'a queued row is written a moment later without a read (another connection sees it)')
  other.close()
  const stricter = new AuditLog(agent.store.path, { maxRows: 5, maxAgeMs: 600_000 })
  t.equal(stricter.count(), 1, 'a trail opened with a shorter age prunes at once (only the row of a minute ago stays)')
  stricter.close()
  for (let i = 0; i < 8; i++) log.add({ ...row('a', randomUUID(), `n${i}`, 0), at: at(0) }, i % 2 === 0)
  t.same(log.list({}).map((r) => r.caller), ['n7', 'n6', 'n5', 'n4', 'n3'], 'the newest DTMA_AUDIT_MAX_ROWS rows stay')
  t.same(log.unsent(10).map((r) => r.record.caller), ['n4', 'n6'], 'of those, the ones to mirror, oldest first')
  log.markSent(log.unsent(1)[0]?.seq ?? 0)
  t.same(log.unsent(10).map((r) => r.record.caller), ['n6'], 'marked sent up to a row')
})
