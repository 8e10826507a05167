// The benchmark's own PostgreSQL: a fresh cluster (Debian's binaries, run as
// the postgres user) in a temporary directory on a free loopback port, so
// its WAL, its CPU and its connections are the fleet's alone (the test
// server on 5432 is shared). The fixture and every migration are applied, in
// the Supabase CLI's order. Stopped and deleted by close().
import pg from 'pg'

const SUPABASE_DIR = new URL('../../supabase/', import.meta.url)

export interface Cluster {
  url: string
  port: number
  dataDir: string
  /** The postmaster's pid: its children are the database's processes. */
  postmasterPid(): Promise<number>
  close(): Promise<void>
}

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdout: 'piped', stderr: 'piped' }).output()
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr)
  if (!output.success) throw new Error(`${command} ${args.join(' ')} failed: ${text}`)
  return text
}

async function binDir(): Promise<string> {
  const versions: number[] = []
  for await (const entry of Deno.readDir('/usr/lib/postgresql')) if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name))
  if (versions.length === 0) throw new Error('no PostgreSQL under /usr/lib/postgresql (scripts/ensure-test-services.sh installs it)')
  return `/usr/lib/postgresql/${Math.max(...versions)}/bin`
}

function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 })
  const port = (listener.addr as Deno.NetAddr).port
  listener.close()
  return port
}

/** As the postgres user when running as root (initdb refuses root). */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return Deno.uid() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args]
}

export async function startCluster(settings: Record<string, string> = {}): Promise<Cluster> {
  const bin = await binDir()
  const dataDir = await Deno.makeTempDir({ prefix: 'dtma-fleetbench-pg-' })
  if (Deno.uid() === 0) await run('chown', ['postgres:postgres', dataDir])
  await run(...asPostgres(`${bin}/initdb`, ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']))
  const port = freePort()
  const options = Object.entries({
    port: String(port),
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dataDir,
    max_connections: '200',
    shared_buffers: '512MB',
    ...settings
  }).map(([key, value]) => `-c ${key}=${value}`)
  await run(...asPostgres(`${bin}/pg_ctl`, ['-D', dataDir, '-l', `${dataDir}/server.log`, '-w', '-o', options.join(' '), 'start']))
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  return {
    url,
    port,
    dataDir,
    async postmasterPid() {
      return Number((await Deno.readTextFile(`${dataDir}/postmaster.pid`)).split('\n')[0])
    },
    async close() {
      await run(...asPostgres(`${bin}/pg_ctl`, ['-D', dataDir, '-m', 'fast', '-w', 'stop'])).catch(() => undefined)
      await Deno.remove(dataDir, { recursive: true }).catch(() => undefined)
    }
  }
}

/** The fixture, then the migrations in file-name order. */
export async function applySchema(url: string): Promise<void> {
  const names: string[] = []
  for await (const entry of Deno.readDir(new URL('migrations/', SUPABASE_DIR))) if (entry.name.endsWith('.sql')) names.push(entry.name)
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(await Deno.readTextFile(new URL('tests/fixture.sql', SUPABASE_DIR)))
    for (const name of names.sort()) await client.query(await Deno.readTextFile(new URL(`migrations/${name}`, SUPABASE_DIR)))
  } finally {
    await client.end()
  }
}
