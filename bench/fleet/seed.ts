// The fleet in the database before the agents start: `toolboxes` toolboxes
// (awaiting their first heartbeat, each of its own user), 20 catalog tools,
// one instance of each per toolbox, the registry rows those instances had
// when the run starts (a fleet that has been running: the initial mirror is
// not what the benchmark measures), and one enrolment token per toolbox,
// issued by dtma_issue_enrolment as the backend issues it.
import type pg from 'pg'
import { newInstance, registryRow, type SimInstance } from './toolbox.ts'

export const INSTANCES_PER_TOOLBOX = 20

export interface SeededToolbox {
  environmentId: string
  userId: string
  enrolmentToken: string
  /** Its agent's address: refresh-status calls it there. */
  ip: string
  instances: SimInstance[]
}

export async function seedFleet(pool: pg.Pool, toolboxes: number): Promise<SeededToolbox[]> {
  await pool.query(`insert into tool_catalog (name, docker_image_url) select 'bench tool ' || i, 'ghcr.io/agentopia/mcp-tool:1.4.2' from generate_series(1, $1) i`, [INSTANCES_PER_TOOLBOX])
  const environments = await pool.query<{ id: string; user_id: string; token: string; ip: string }>(
    `with made as (
       insert into account_tool_environments (user_id, status, public_ip_address)
       select gen_random_uuid(), 'awaiting_heartbeat', '10.' || (i / 65536) || '.' || (i / 256 % 256) || '.' || (i % 256) from generate_series(1, $1) i
       returning id, user_id, public_ip_address)
     select id, user_id, public.dtma_issue_enrolment(id) as token, public_ip_address as ip from made`,
    [toolboxes]
  )
  await pool.query(
    `insert into account_tool_instances (account_tool_environment_id, tool_catalog_id, instance_name_on_toolbox, status_on_toolbox)
     select e.id, c.id, 'tool-' || (row_number() over (partition by e.id order by c.name) - 1), 'running'
       from account_tool_environments e cross join tool_catalog c`
  )
  const instances = await pool.query<{ id: string; environment_id: string; name: string }>(
    `select id, account_tool_environment_id as environment_id, instance_name_on_toolbox as name from account_tool_instances`
  )
  const byEnvironment = new Map<string, SimInstance[]>()
  for (const row of instances.rows) {
    const index = Number(row.name.slice('tool-'.length))
    const list = byEnvironment.get(row.environment_id) ?? []
    list[index] = newInstance(row.id, index)
    byEnvironment.set(row.environment_id, list)
  }
  const fleet = environments.rows.map((row) => ({ environmentId: row.id, userId: row.user_id, enrolmentToken: row.token, ip: row.ip, instances: byEnvironment.get(row.id) ?? [] }))
  // The registry as the agents last wrote it, in batches.
  const rows = fleet.flatMap((toolbox) => toolbox.instances.map((instance) => registryRow(instance, toolbox.environmentId)))
  for (let i = 0; i < rows.length; i += 5000) {
    await pool.query(
      `insert into dtma_container_registry select * from jsonb_populate_recordset(null::dtma_container_registry, $1::jsonb)`,
      [JSON.stringify(rows.slice(i, i + 5000).map((row) => ({ ...row, id: crypto.randomUUID(), created_at: row.last_seen_at, updated_at: row.last_seen_at })))]
    )
  }
  await pool.query('vacuum analyze')
  return fleet
}
