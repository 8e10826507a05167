// The audit trail's registry mirror against a registry that fails: rows
// wait in the store while it is down and go, oldest first and in batches,
// once it is back; a batch the registry refuses as such (400) is dropped so
// it never blocks the next; rows of instances Agentopia does not know are
// never sent; and closing the agent sends what is left. The store is the
// real SQLite file (audit-log.ts); the registry a recording stand-in.
import { randomUUID } from 'node:crypto'
import { MAX_AUDIT_BATCH, type AuditRecord } from '@dtma/contract'
import pino from 'pino'
import t from 'tap'
import { AuditLog } from '../../src/audit/audit-log.ts'
import { AuditTrail } from '../../src/audit/audit-trail.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { AuditMirror } from '../../src/registry/audit-mirror.ts'
import { RegistryWriteError } from '../../src/registry/supabase-target.ts'
import { InstanceStore } from '../../src/store/instance-store.ts'
import { tempDir } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const ID = randomUUID()

function setUp(t: Parameters<typeof tempDir>[0], answer: (rows: AuditRecord[]) => void) {
  const store = new InstanceStore(tempDir(t))
  const log = new AuditLog(store.path, { maxRows: 10_000, maxAgeMs: 3600_000 })
  const metrics = new Metrics()
  const logger = pino({ level: 'silent' })
  const trail = new AuditTrail({ log, instances: { get: (name: string) => ({ accountToolInstanceId: name === 'unknown' ? '' : ID }) as never }, metrics, logger })
  const sent: AuditRecord[][] = []
  const mirror = new AuditMirror({ log, trail, target: { audit: async (rows) => { answer(rows); sent.push(rows) } }, logger, metrics, batchDelayMs: 20, retryMaxMs: 2000 })
  t.teardown(() => {
    log.close()
    store.close()
  })
  let n = 0
  const call = (instanceName = 'known') => trail.record({ at: Date.now(), instanceName, caller: 'alice', method: 'tools/call', target: `t${n++}`, listed: true, argsSha256: '0'.repeat(64), durationMs: 1, outcome: 'ok' })
  return { log, mirror, sent, call }
}

t.test('rows wait while the registry is down and go in order, batched, when it is back', async (t) => {
  let down = true
  const { mirror, sent, call } = setUp(t, () => {
    if (down) throw new RegistryWriteError('registry audit failed: 503', 503, true)
  })
  mirror.start()
  for (let i = 0; i < MAX_AUDIT_BATCH + 50; i++) call()
  call('unknown')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(sent.length, 0, 'nothing delivered while the registry answers 503')
  down = false
  await waitFor(() => (sent.flat().length >= MAX_AUDIT_BATCH + 50 ? true : undefined), 10_000)
  t.same(sent.map((batch) => batch.length), [MAX_AUDIT_BATCH, 50], `${MAX_AUDIT_BATCH + 50} rows in two requests`)
  t.same(sent.flat().map((row) => row.target), Array.from({ length: MAX_AUDIT_BATCH + 50 }, (_, i) => `t${i}`), 'oldest first, each once')
  t.notOk(sent.flat().some((row) => row.account_tool_instance_id === null), 'a row of an instance Agentopia does not know is never sent')
  call()
  await mirror.close()
  t.equal(sent.flat().length, MAX_AUDIT_BATCH + 51, 'closing sends what is left')
})

t.test('a batch the registry refuses is dropped, not retried for ever', async (t) => {
  let refuse = true
  const { mirror, sent, call, log } = setUp(t, () => {
    if (refuse) {
      refuse = false
      throw new RegistryWriteError('registry audit failed: 400', 400, false)
    }
  })
  call()
  mirror.start()
  await waitFor(() => (log.unsent(10).length === 0 ? true : undefined))
  call()
  await waitFor(() => (sent.length === 1 ? true : undefined))
  t.same(sent.map((batch) => batch.map((row) => row.target)), [['t1']], 'the refused row is gone; the next goes')
  await mirror.close()
})
