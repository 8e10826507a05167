// The stand-in's database: a fresh PostgreSQL database per stand-in on the
// local server scripts/ensure-test-services.sh starts, holding
// supabase/tests/fixture.sql and every supabase/migrations/*.sql (the same
// files, in the same order, as the agent's tests apply: the Supabase CLI's
// file-name order), dropped at close. DTMA_TEST_DATABASE_URL names the
// server (default: postgres over TCP on 127.0.0.1 with the password the
// script sets).
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

export class StandInDatabase {
  private constructor(readonly name: string, readonly pool: pg.Pool) {}

  static async create(): Promise<StandInDatabase> {
    const name = `dtma_standin_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`
    const admin = new pg.Client({ connectionString: SERVER_URL })
    await admin.connect()
    try {
      await admin.query(`create database ${name}`)
    } finally {
      await admin.end()
    }
    const url = new URL(SERVER_URL)
    url.pathname = `/${name}`
    const database = new StandInDatabase(name, new pg.Pool({ connectionString: url.toString(), max: 4 }))
    try {
      for (const { name: file, sql } of await schemaSql()) {
        await database.pool.query(sql).catch((error: Error) => Promise.reject(new Error(`${file}: ${error.message}`)))
      }
      await database.pool.query(OBSERVER_SQL)
    } catch (error) {
      await database.drop()
      throw error
    }
    return database
  }

  /** As the database's owner, outside any role: seeding and looking, as a migration or the dashboard would. */
  async query<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(text, values)).rows as T[]
  }

  async drop(): Promise<void> {
    await this.pool.end()
    const admin = new pg.Client({ connectionString: SERVER_URL })
    await admin.connect()
    try {
      await admin.query(`drop database if exists ${this.name} with (force)`)
    } finally {
      await admin.end()
    }
  }
}
