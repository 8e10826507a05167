// A fresh PostgreSQL database per test file on the local server that
// scripts/ensure-test-services.sh starts: the Agentopia fixture and every
// migration under supabase/migrations applied, dropped at teardown.
// DTMA_TEST_DATABASE_URL names the server (default: postgres over TCP on
// 127.0.0.1 with the password the script sets).
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import pg from 'pg'

const SERVER_URL = process.env.DTMA_TEST_DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres'
const supabaseDir = new URL('../../../../supabase/', import.meta.url)

export const FIXTURE_SQL = readFileSync(new URL('tests/fixture.sql', supabaseDir), 'utf8')

/** The migrations in the order the Supabase CLI applies them (file name order). */
export function migrations(): Array<{ name: string; sql: string }> {
  const dir = new URL('migrations/', supabaseDir)
  return readdirSync(dir)
    .filter((name) => name.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(new URL(name, dir), 'utf8') }))
}

interface TapLike {
  teardown(fn: () => unknown): void
}

export interface TestDatabase {
  /** Connected as the superuser; use `asRole` for what PostgREST's roles see. */
  pool: pg.Pool
  url: string
  /** Runs `work` in a transaction as `role` with these JWT claims, then rolls back. */
  asRole<T>(role: 'anon' | 'authenticated' | 'service_role', claims: Record<string, unknown>, work: (client: pg.PoolClient) => Promise<T>): Promise<T>
}

/** A new database with the fixture (and, unless told not to, the migrations) applied. */
export async function createTestDatabase(t: TapLike, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `dtma_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: SERVER_URL })
  await admin.connect()
  await admin.query(`create database ${name}`)
  await admin.end()
  const url = new URL(SERVER_URL)
  url.pathname = `/${name}`
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 })
  // An idle connection the server cuts is dropped by the pool; without a listener it would crash the test.
  pool.on('error', () => {})
  t.teardown(async () => {
    // end() resolves while the connections are still closing: a plain drop waits for them (up to 5 s), force is the fallback.
    await pool.end()
    const dropper = new pg.Client({ connectionString: SERVER_URL })
    await dropper.connect()
    await dropper.query(`drop database if exists ${name}`).catch(() => dropper.query(`drop database if exists ${name} with (force)`))
    await dropper.end()
  })
  await pool.query(FIXTURE_SQL)
  if (options.migrate !== false) for (const migration of migrations()) await pool.query(migration.sql)
  return {
    pool,
    url: url.toString(),
    async asRole(role, claims, work) {
      const client = await pool.connect()
      try {
        await client.query('begin')
        await client.query(`set local role ${role}`)
        await client.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify({ role, ...claims })])
        return await work(client)
      } finally {
        await client.query('rollback').catch(() => undefined)
        client.release()
      }
    }
  }
}

/** An environment owned by `userId` with one tool instance per id given,
 *  each of its own catalog tool (a toolbox holds one instance per catalog tool). */
export async function seedInstances(pool: pg.Pool, userId: string, instanceIds: string[]): Promise<{ environmentId: string }> {
  const environment = await pool.query<{ id: string }>(`insert into account_tool_environments (user_id, status) values ($1, 'active') returning id`, [userId])
  const environmentId = environment.rows[0]!.id
  for (const id of instanceIds) {
    const catalog = await pool.query<{ id: string }>(`insert into tool_catalog (name, docker_image_url) values ($1, 'dtma-test/busybox:v1') returning id`, [`test tool ${id}`])
    await pool.query(
      `insert into account_tool_instances (id, account_tool_environment_id, tool_catalog_id, instance_name_on_toolbox, status_on_toolbox)
       values ($1, $2, $3, $4, 'deploying')`,
      [id, environmentId, catalog.rows[0]!.id, `instance ${id}`]
    )
  }
  return { environmentId }
}
