// The certificate columns on real PostgreSQL (the fixture and every
// migration applied, twice: they are idempotent): a toolbox's row takes the
// certificate and fingerprint its heartbeat reports, and refuses a
// fingerprint that is not one and a text that is not a PEM certificate.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { makeCertificate } from '../../src/tls/certificate.ts'
import { createTestDatabase, migrations } from '../helpers/postgres.ts'

t.test('account_tool_environments keeps the agent certificate and refuses what is not one', async (t) => {
  const db = await createTestDatabase(t)
  for (const migration of migrations()) await db.pool.query(migration.sql)
  const id = (await db.pool.query<{ id: string }>(`insert into account_tool_environments (user_id, status) values ($1, 'active') returning id`, [randomUUID()])).rows[0]!.id
  const material = makeCertificate(['127.0.0.1'])
  const write = (fingerprint: string, pem: string) =>
    db.pool.query('update account_tool_environments set dtma_tls_fingerprint_sha256 = $1, dtma_tls_certificate_pem = $2 where id = $3', [fingerprint, pem, id]).then(
      () => 'written',
      (error: Error & { code?: string }) => `refused (${error.code})`
    )
  const cases: Array<[string, string, string, string]> = [
    ['the agent certificate', material.fingerprint, material.cert, 'written'],
    ['a fingerprint in lower case', material.fingerprint.toLowerCase(), material.cert, 'refused (23514)'],
    ['a fingerprint too short', material.fingerprint.slice(3), material.cert, 'refused (23514)'],
    ['a key instead of a certificate', material.fingerprint, material.key, 'refused (23514)']
  ]
  for (const [what, fingerprint, pem, expected] of cases) {
    const seen = await write(fingerprint, pem)
    t.comment(`${what}: expected ${expected}, seen ${seen}`)
    t.equal(seen, expected, what)
  }
  const row = (await db.pool.query('select dtma_tls_fingerprint_sha256, dtma_tls_certificate_pem from account_tool_environments where id = $1', [id])).rows[0]
  t.same(row, { dtma_tls_fingerprint_sha256: material.fingerprint, dtma_tls_certificate_pem: material.cert }, 'the row keeps the certificate its heartbeat reported')
})
