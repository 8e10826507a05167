// The agent's SQLite file through node:sqlite: opened durable (WAL,
// synchronous=FULL, busy timeout) by every writer, and transaction() writes
// all of a function's rows or none, seen from a second connection as the
// store and the outbox see each other.
import { join } from 'node:path'
import t from 'tap'
import { openDatabase, transaction } from '../../src/store/sqlite.ts'
import { tempDir } from '../helpers/agent.ts'

const pragma = (db: ReturnType<typeof openDatabase>, name: string): unknown => Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0]

t.test('every connection is WAL, synchronous=FULL, with a busy timeout', async (t) => {
  const db = openDatabase(join(tempDir(t), 'dtma.db'))
  t.teardown(() => db.close())
  t.equal(pragma(db, 'journal_mode'), 'wal')
  t.equal(pragma(db, 'synchronous'), 2, 'FULL')
  t.equal(pragma(db, 'busy_timeout'), 5000)
})

t.test('a transaction commits all of its writes, or none when it throws', async (t) => {
  const file = join(tempDir(t), 'dtma.db')
  const writer = openDatabase(file)
  const reader = openDatabase(file)
  t.teardown(() => {
    writer.close()
    reader.close()
  })
  writer.exec('CREATE TABLE rows (name TEXT PRIMARY KEY)')
  const insert = writer.prepare('INSERT INTO rows (name) VALUES (?)')
  const names = () => reader.prepare('SELECT name FROM rows ORDER BY name').all().map((row) => row.name)

  t.equal(transaction(writer, () => (insert.run('a'), insert.run('b'), 'done')), 'done', "the function's result")
  t.same(names(), ['a', 'b'], 'both rows committed, visible to the other connection')

  t.throws(() => transaction(writer, () => (insert.run('c'), insert.run('a'))), /UNIQUE constraint failed/, 'the failing write throws')
  t.same(names(), ['a', 'b'], 'the row written before the failure is rolled back')
  t.notOk(writer.isTransaction, 'no transaction left open')

  t.throws(() => transaction(writer, () => { insert.run('d'); throw new Error('not now') }), /not now/)
  t.same(names(), ['a', 'b'], 'nor when the function itself throws')
})
