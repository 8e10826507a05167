// The audit trail's table in the agent's SQLite file (a connection of its
// own, like the registry outbox; the store made the file, mode 0600): one
// row per MCP call, bounded by count and by age, pruned on every write. A
// row is written once its call has an outcome; the registry mirror takes
// the rows not sent yet (of instances Agentopia knows) in batches.
// Rows are written in batches, off the calls' path: add() queues a row and
// a flush a moment later (FLUSH_MS, or at FLUSH_ROWS queued) writes all that
// waits in one transaction and prunes once; every read flushes first, so a
// read sees every call recorded before it. With synchronous=NORMAL on this
// connection (WAL), a commit is not synced to disk either: a crash may lose
// the last FLUSH_MS of rows, a power cut a few more; never the file.
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { AuditQuery, AuditRecord } from '@dtma/contract'
import { openDatabase, transaction } from '../store/sqlite.ts'

const FLUSH_MS = 50
const FLUSH_ROWS = 500

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS mcp_audit (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL,
    at           INTEGER NOT NULL,
    caller       TEXT NOT NULL,
    instance_name TEXT NOT NULL,
    account_tool_instance_id TEXT,
    method       TEXT NOT NULL,
    target       TEXT NOT NULL,
    listed       INTEGER NOT NULL,
    args_sha256  TEXT NOT NULL,
    duration_ms  REAL NOT NULL,
    outcome      TEXT NOT NULL,
    error_code   INTEGER,
    reason       TEXT,
    unsent       INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS mcp_audit_at ON mcp_audit (at);
  CREATE INDEX IF NOT EXISTS mcp_audit_instance ON mcp_audit (instance_name, at);
  CREATE INDEX IF NOT EXISTS mcp_audit_caller ON mcp_audit (caller, at);
  CREATE INDEX IF NOT EXISTS mcp_audit_unsent ON mcp_audit (seq) WHERE unsent = 1;`

type Row = {
  seq: number
  id: string
  at: number
  caller: string
  instance_name: string
  account_tool_instance_id: string | null
  method: AuditRecord['method']
  target: string
  listed: number
  args_sha256: string
  duration_ms: number
  outcome: AuditRecord['outcome']
  error_code: number | null
  reason: string | null
}

export interface AuditLimits {
  maxRows: number
  maxAgeMs: number
}

export interface StoredAudit {
  seq: number
  record: AuditRecord
}

function toRecord(row: Row): AuditRecord {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    caller: row.caller,
    instance_name_on_toolbox: row.instance_name,
    account_tool_instance_id: row.account_tool_instance_id,
    method: row.method,
    target: row.target,
    listed: row.listed === 1,
    args_sha256: row.args_sha256,
    duration_ms: row.duration_ms,
    outcome: row.outcome,
    error_code: row.error_code,
    reason: row.reason
  }
}

export class AuditLog {
  private readonly db: DatabaseSync
  private queued: Array<{ record: AuditRecord; mirror: boolean }> = []
  private timer: NodeJS.Timeout | undefined
  private readonly statements: Record<'insert' | 'pruneCount' | 'pruneAge' | 'unsent' | 'markSent' | 'count', StatementSync>

  /** onError: a flush that failed on its timer (its rows are lost; the agent goes on). */
  constructor(storePath: string, private readonly limits: AuditLimits, private readonly onError: (error: Error) => void = () => undefined) {
    this.db = openDatabase(storePath)
    this.db.exec('PRAGMA synchronous = NORMAL')
    this.db.exec(SCHEMA)
    this.statements = {
      insert: this.db.prepare(
        `INSERT INTO mcp_audit (id, at, caller, instance_name, account_tool_instance_id, method, target, listed, args_sha256, duration_ms, outcome, error_code, reason, unsent)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
      ),
      // seq only grows: the rows beyond the newest maxRows are those at or below the last seq - maxRows.
      pruneCount: this.db.prepare('DELETE FROM mcp_audit WHERE seq <= ?'),
      pruneAge: this.db.prepare('DELETE FROM mcp_audit WHERE at < ?'),
      unsent: this.db.prepare('SELECT * FROM mcp_audit WHERE unsent = 1 ORDER BY seq LIMIT ?'),
      markSent: this.db.prepare('UPDATE mcp_audit SET unsent = 0 WHERE unsent = 1 AND seq <= ?'),
      count: this.db.prepare('SELECT count(*) AS n FROM mcp_audit')
    }
    transaction(this.db, () => this.pruneNow(Date.now(), undefined))
  }

  /** Queues one call for the next flush; `mirror`: the registry is to have it too. */
  add(record: AuditRecord, mirror: boolean): void {
    this.queued.push({ record, mirror })
    if (this.queued.length >= FLUSH_ROWS) this.flush()
    else this.timer ??= setTimeout(() => this.flushOrTell(), FLUSH_MS)
  }

  private flushOrTell(): void {
    try {
      this.flush()
    } catch (error) {
      this.onError(error as Error)
    }
  }

  /** Writes what is queued in one transaction, and prunes what is now too many or too old. */
  flush(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.queued.length === 0) return
    const rows = this.queued
    this.queued = []
    transaction(this.db, () => {
      let seq = 0
      for (const { record, mirror } of rows) {
        const { lastInsertRowid } = this.statements.insert.run(
          record.id, Date.parse(record.at), record.caller, record.instance_name_on_toolbox, record.account_tool_instance_id, record.method, record.target,
          record.listed ? 1 : 0, record.args_sha256, record.duration_ms, record.outcome, record.error_code, record.reason, mirror ? 1 : 0
        )
        seq = Number(lastInsertRowid)
      }
      this.pruneNow(Date.now(), seq)
    })
  }

  /** Newest first, filtered. `instanceIds`: only rows of these account_tool_instance_ids (a narrowed token). */
  list(query: AuditQuery, instanceIds?: ReadonlySet<string>): AuditRecord[] {
    this.flush()
    const where: string[] = []
    const values: Array<string | number> = []
    const add = (clause: string, ...given: Array<string | number>): void => {
      where.push(clause)
      values.push(...given)
    }
    if (query.instance !== undefined) add('instance_name = ?', query.instance)
    if (query.subject !== undefined) add('caller = ?', query.subject)
    if (query.since !== undefined) add('at >= ?', Math.round(query.since * 1000))
    if (query.until !== undefined) add('at < ?', Math.round(query.until * 1000))
    if (instanceIds !== undefined) add(`account_tool_instance_id IN (${[...instanceIds].map(() => '?').join(',') || 'NULL'})`, ...instanceIds)
    const sql = `SELECT * FROM mcp_audit ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY seq DESC LIMIT ?`
    return (this.db.prepare(sql).all(...values, query.limit ?? 100) as Row[]).map(toRecord)
  }

  /** The oldest rows the registry does not have yet. */
  unsent(limit: number): StoredAudit[] {
    this.flush()
    return (this.statements.unsent.all(limit) as Row[]).map((row) => ({ seq: row.seq, record: toRecord(row) }))
  }

  /** The registry has every row up to this one. */
  markSent(throughSeq: number): void {
    this.statements.markSent.run(throughSeq)
  }

  count(): number {
    this.flush()
    return (this.statements.count.get() as { n: number }).n
  }

  close(): void {
    this.flush()
    this.db.close()
  }

  private pruneNow(now: number, lastSeq: number | undefined): void {
    this.statements.pruneAge.run(now - this.limits.maxAgeMs)
    const last = lastSeq ?? (this.db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM mcp_audit').get() as { seq: number }).seq
    if (last > this.limits.maxRows) this.statements.pruneCount.run(last - this.limits.maxRows)
  }
}
