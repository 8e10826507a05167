// The registry's durable outbox: registry writes that have not reached
// Supabase yet, in the agent's SQLite file (WAL, synchronous=FULL, mode 0600,
// made by the store) through a connection of its own, so the store keeps its
// one job. One pending entry per account_tool_instance_id: a newer change
// replaces an older one that was not sent (latest wins): however often an
// instance changes while a write waits, the registry gets one write for it.
// It also remembers which instance names are mirrored under which id, so a
// removal, even one seen only after a restart, deletes the right row, and a
// digest of the row the registry last accepted for each, so a full sync
// after a restart sends only what changed (the agent's time stamps aside).
import { createHash } from 'node:crypto'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { openDatabase, transaction } from '../store/sqlite.ts'
import type { RegistryRow } from './registry-row.ts'

export type OutboxEntry =
  | { accountToolInstanceId: string; seq: number; attempts: number; operation: 'upsert'; row: RegistryRow }
  | { accountToolInstanceId: string; seq: number; attempts: number; operation: 'delete' }

interface EntryRow {
  account_tool_instance_id: string
  operation: 'upsert' | 'delete'
  row_json: string | null
  seq: number
  attempts: number
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS registry_outbox (
    account_tool_instance_id TEXT PRIMARY KEY,
    operation   TEXT NOT NULL CHECK (operation IN ('upsert', 'delete')),
    row_json    TEXT,
    seq         INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    enqueued_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS registry_mirror (
    instance_name TEXT PRIMARY KEY,
    account_tool_instance_id TEXT NOT NULL
  );`

/** Added after the first release: an outbox file of an earlier agent gets it on open. */
const DELIVERED_COLUMN = 'ALTER TABLE registry_mirror ADD COLUMN delivered_digest TEXT'

/** The row without the times the agent stamps on every write: equal digests, nothing to tell the registry. */
function digest(row: RegistryRow): string {
  const { last_seen_at: _seen, mcp_checked_at: _checked, ...content } = row
  return createHash('sha256').update(JSON.stringify(content)).digest('hex')
}

export class RegistryOutbox {
  private readonly db: DatabaseSync
  private readonly statements: Record<
    'enqueue' | 'mirror' | 'unmirror' | 'mirroredId' | 'mirroredNames' | 'next' | 'settle' | 'retryLater' | 'pending' | 'markDelivered' | 'deliveredDigest',
    StatementSync
  >
  /** Orders entries and tells a sent entry from one replaced while it was in flight. */
  private seq: number

  constructor(storePath: string) {
    this.db = openDatabase(storePath)
    this.db.exec(SCHEMA)
    const columns = this.db.prepare('PRAGMA table_info(registry_mirror)').all() as Array<{ name: string }>
    if (!columns.some((column) => column.name === 'delivered_digest')) this.db.exec(DELIVERED_COLUMN)
    this.statements = {
      enqueue: this.db.prepare(
        `INSERT INTO registry_outbox (account_tool_instance_id, operation, row_json, seq, attempts, enqueued_at) VALUES (?, ?, ?, ?, 0, ?)
         ON CONFLICT (account_tool_instance_id) DO UPDATE SET operation = excluded.operation, row_json = excluded.row_json,
           seq = excluded.seq, attempts = 0, enqueued_at = excluded.enqueued_at`
      ),
      // A new id under a name starts with nothing delivered; the same id keeps its digest.
      mirror: this.db.prepare(
        `INSERT INTO registry_mirror (instance_name, account_tool_instance_id) VALUES (?, ?)
         ON CONFLICT (instance_name) DO UPDATE SET account_tool_instance_id = excluded.account_tool_instance_id,
           delivered_digest = CASE WHEN registry_mirror.account_tool_instance_id = excluded.account_tool_instance_id THEN registry_mirror.delivered_digest END`
      ),
      markDelivered: this.db.prepare('UPDATE registry_mirror SET delivered_digest = ? WHERE account_tool_instance_id = ?'),
      deliveredDigest: this.db.prepare(
        `SELECT m.delivered_digest AS digest FROM registry_mirror m
          WHERE m.instance_name = ? AND m.account_tool_instance_id = ?
            AND NOT EXISTS (SELECT 1 FROM registry_outbox o WHERE o.account_tool_instance_id = m.account_tool_instance_id)`
      ),
      unmirror: this.db.prepare('DELETE FROM registry_mirror WHERE instance_name = ?'),
      mirroredId: this.db.prepare('SELECT account_tool_instance_id FROM registry_mirror WHERE instance_name = ?'),
      mirroredNames: this.db.prepare('SELECT instance_name FROM registry_mirror'),
      next: this.db.prepare('SELECT * FROM registry_outbox ORDER BY seq LIMIT 1'),
      settle: this.db.prepare('DELETE FROM registry_outbox WHERE account_tool_instance_id = ? AND seq = ?'),
      retryLater: this.db.prepare('UPDATE registry_outbox SET attempts = attempts + 1, seq = ? WHERE account_tool_instance_id = ? AND seq = ?'),
      pending: this.db.prepare('SELECT count(*) AS n FROM registry_outbox')
    }
    this.seq = (this.db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM registry_outbox').get() as { seq: number }).seq
  }

  /** Queues the row of an instance (and the delete of its old row if its id changed). */
  upsert(instanceName: string, row: RegistryRow, now = Date.now()): void {
    transaction(this.db, () => {
      const previous = this.mirroredId(instanceName)
      if (previous !== undefined && previous !== row.account_tool_instance_id) this.enqueue(previous, 'delete', null, now)
      this.statements.mirror.run(instanceName, row.account_tool_instance_id)
      this.enqueue(row.account_tool_instance_id, 'upsert', JSON.stringify(row), now)
    })
  }

  /** Queues the delete of an instance's row, if it was ever mirrored. */
  remove(instanceName: string, now = Date.now()): void {
    transaction(this.db, () => {
      const previous = this.mirroredId(instanceName)
      if (previous === undefined) return
      this.enqueue(previous, 'delete', null, now)
      this.statements.unmirror.run(instanceName)
    })
  }

  mirroredNames(): string[] {
    return (this.statements.mirroredNames.all() as Array<{ instance_name: string }>).map((row) => row.instance_name)
  }

  /** The oldest pending entry. */
  next(): OutboxEntry | undefined {
    const row = this.statements.next.get() as EntryRow | undefined
    if (row === undefined) return undefined
    const base = { accountToolInstanceId: row.account_tool_instance_id, seq: row.seq, attempts: row.attempts }
    return row.operation === 'upsert' ? { ...base, operation: 'upsert', row: JSON.parse(row.row_json as string) as RegistryRow } : { ...base, operation: 'delete' }
  }

  /** The entry reached Supabase (or, `delivered` false, never can): gone, unless a newer change replaced it meanwhile. */
  settle(entry: OutboxEntry, delivered = true): void {
    transaction(this.db, () => {
      this.statements.settle.run(entry.accountToolInstanceId, entry.seq)
      if (delivered && entry.operation === 'upsert') this.statements.markDelivered.run(digest(entry.row), entry.accountToolInstanceId)
    })
  }

  /** Whether the registry has this row of the instance as it is (nothing pending for it either). */
  delivered(instanceName: string, row: RegistryRow): boolean {
    const found = this.statements.deliveredDigest.get(instanceName, row.account_tool_instance_id) as { digest: string | null } | undefined
    return found?.digest != null && found.digest === digest(row)
  }

  /** A failed attempt; the entry moves behind the others so one bad row never blocks the rest. */
  retryLater(entry: OutboxEntry): void {
    this.statements.retryLater.run(++this.seq, entry.accountToolInstanceId, entry.seq)
  }

  pending(): number {
    return (this.statements.pending.get() as { n: number }).n
  }

  close(): void {
    this.db.close()
  }

  private mirroredId(instanceName: string): string | undefined {
    const row = this.statements.mirroredId.get(instanceName) as { account_tool_instance_id: string } | undefined
    return row?.account_tool_instance_id
  }

  private enqueue(accountToolInstanceId: string, operation: 'upsert' | 'delete', rowJson: string | null, now: number): void {
    this.statements.enqueue.run(accountToolInstanceId, operation, rowJson, ++this.seq, now)
  }
}
