// The agent's SQLite file as each of its writers opens it (the store and the
// registry outbox, a connection each), through node:sqlite: WAL with
// synchronous=FULL, so a committed write survives a kill -9 or a power cut,
// and a busy timeout, so one connection waits for the other instead of
// failing. node:sqlite has no transaction helper; transaction() is the one
// place that says BEGIN, COMMIT and ROLLBACK.
import { DatabaseSync } from 'node:sqlite'

export function openDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path)
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000')
  return db
}

/** Runs fn as one transaction: all of its writes or none. IMMEDIATE takes the
 *  write lock first, so a transaction that reads before it writes waits for
 *  the other connection (busy timeout) instead of failing on the upgrade. */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE')
  try {
    const result = fn()
    db.exec('COMMIT')
    return result
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK')
    throw error
  }
}
