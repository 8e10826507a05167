// The stand-in's database: a fresh PostgreSQL database per stand-in on the
// local server scripts/ensure-test-services.sh starts, holding
// supabase/tests/fixture.sql and every supabase/migrations/*.sql (the same
// files, in the same order, as the agent's tests apply: the Supabase CLI's
// file-name order), dropped at close. The schema is applied once into a
// template database named by the files' SHA-256 (dtma_standin_tpl_…, kept
// for the next run; a changed file makes a new one), and each stand-in's
// database is a copy of it. DTMA_TEST_DATABASE_URL names the server
// (default: postgres over TCP on 127.0.0.1 with the password the script sets).
import pg from 'pg'

const SERVER_URL = Deno.env.get('DTMA_TEST_DATABASE_URL') ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres'
const SUPABASE_DIR = new URL('../../../', import.meta.url)

// Test bookkeeping, not a rule: each value status_on_toolbox takes, per
// instance, in order (as the in-flight states a user could have seen).
const OBSERVER_SQL = `
create schema stand_in;
create table stand_in.status_history (seq bigserial primary key, instance_id uuid not null, status text not null);
create function stand_in.note_status() returns trigger language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'INSERT' or new.status_on_toolbox is distinct from old.status_on_toolbox then
    insert into stand_in.status_history (instance_id, status) values (new.id, new.status_on_toolbox::text);
  end if;
  return null;
end
$$;
create trigger stand_in_status_history after insert or update on public.account_tool_instances
  for each row execute function stand_in.note_status();`

/** The fixture, then the migrations in file-name order. */
export async function schemaSql(): Promise<Array<{ name: string; sql: string }>> {
  const migrations = new URL('migrations/', SUPABASE_DIR)
  const names: string[] = []
  for await (const entry of Deno.readDir(migrations)) if (entry.isFile && entry.name.endsWith('.sql')) names.push(entry.name)
  names.sort()
  return [
    { name: 'tests/fixture.sql', sql: await Deno.readTextFile(new URL('tests/fixture.sql', SUPABASE_DIR)) },
    ...(await Promise.all(names.map(async (name) => ({ name: `migrations/${name}`, sql: await Deno.readTextFile(new URL(name, migrations)) }))))
  ]
}

function databaseUrl(name: string): string {
  const url = new URL(SERVER_URL)
  url.pathname = `/${name}`
  return url.toString()
}

async function onServer<T>(work: (admin: pg.Client) => Promise<T>, url = SERVER_URL): Promise<T> {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    return await work(admin)
  } finally {
    await admin.end()
  }
}

/** Any process building a template holds this (cluster-wide) advisory lock. */
const TEMPLATE_LOCK = 7_246_310_023
const templates = new Map<string, Promise<string>>()

/** The template holding this schema: built under the lock into a side name, then renamed, so no half-built one is ever copied. */
async function template(): Promise<string> {
  const files = await schemaSql()
  const text = new TextEncoder().encode(JSON.stringify([files, OBSERVER_SQL]))
  const digest = [...new Uint8Array(await crypto.subtle.digest('SHA-256', text))].map((byte) => byte.toString(16).padStart(2, '0')).join('')
  const name = `dtma_standin_tpl_${digest.slice(0, 16)}`
  let built = templates.get(name)
  if (built === undefined) {
    built = onServer(async (admin) => {
      await admin.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK])
      if ((await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1) return name
      const building = `${name}_building`
      await admin.query(`drop database if exists ${building} with (force)`)
      await admin.query(`create database ${building}`)
      await onServer(async (client) => {
        for (const { name: file, sql } of files) await client.query(sql).catch((error: Error) => Promise.reject(new Error(`${file}: ${error.message}`)))
        await client.query(OBSERVER_SQL)
      }, databaseUrl(building))
      await admin.query(`alter database ${building} rename to ${name}`)
      // No connection (autovacuum's included) may hold a template while it is copied.
      await admin.query(`alter database ${name} with is_template true allow_connections false`)
      return name
    })
    templates.set(name, built)
    built.catch(() => templates.delete(name))
  }
  return await built
}

export class StandInDatabase {
  private constructor(readonly name: string, readonly pool: pg.Pool) {}

  static async create(): Promise<StandInDatabase> {
    const source = await template()
    const name = `dtma_standin_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
    await onServer((admin) => admin.query(`create database ${name} template ${source}`))
    const pool = new pg.Pool({ connectionString: databaseUrl(name), max: 4 })
    // An idle connection the server cuts is dropped by the pool and the next request opens another;
    // without a listener the cut would be an uncaught error in the test.
    pool.on('error', () => {})
    return new StandInDatabase(name, pool)
  }

  /** As the database's owner, outside any role: seeding and looking, as a migration or the dashboard would. */
  async query<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(text, values)).rows as T[]
  }

  /** The pool's connections are still closing when end() resolves: a plain drop waits for them (up to 5 s), force is the fallback. */
  async drop(): Promise<void> {
    await this.pool.end()
    await onServer(async (admin) => {
      await admin.query(`drop database if exists ${this.name}`).catch(() => admin.query(`drop database if exists ${this.name} with (force)`))
    })
  }
}
