// account_tool_instances rows of one toolbox: load, find, insert, status and
// config writes, removal, and the public view returned to the frontend (no
// env values).
import type { SupabaseClient } from '@supabase/supabase-js'
import { isUuid, type Database, type InstallationStatus, type InstanceRow, type Json } from '../_shared/database.ts'
import { databaseError, FunctionErrorCode, HttpError } from '../_shared/http.ts'
import { configSummary } from './stored-config.ts'

type Db = SupabaseClient<Database>

/** PostgreSQL's unique_violation, as PostgREST reports it. */
const UNIQUE_VIOLATION = '23505'

export async function listInstances(db: Db, toolboxId: string): Promise<InstanceRow[]> {
  const { data, error } = await db.from('account_tool_instances').select('*').eq('account_tool_environment_id', toolboxId)
  if (error) throw databaseError('list tool instances', error)
  return data
}

/** The row of this toolbox with this id (a uuid) or else this instance name; null if none. */
export async function findInstance(db: Db, toolboxId: string, idOrName: string): Promise<InstanceRow | null> {
  const column = isUuid(idOrName) ? 'id' : 'instance_name_on_toolbox'
  const { data, error } = await db.from('account_tool_instances').select('*').eq('account_tool_environment_id', toolboxId).eq(column, idOrName)
  if (error) throw databaseError('find tool instance', error)
  return data[0] ?? null
}

export async function loadInstance(db: Db, toolboxId: string, instanceId: string): Promise<InstanceRow> {
  const row = await findInstance(db, toolboxId, instanceId)
  if (!row) throw new HttpError(404, FunctionErrorCode.notFound, `Tool instance '${instanceId}' not found on toolbox '${toolboxId}'`)
  return row
}

export async function findInstanceOfCatalogTool(db: Db, toolboxId: string, toolCatalogId: string): Promise<InstanceRow | null> {
  const { data, error } = await db.from('account_tool_instances').select('*').eq('account_tool_environment_id', toolboxId).eq('tool_catalog_id', toolCatalogId)
  if (error) throw databaseError('find tool instance', error)
  return data[0] ?? null
}

/** The new row, or null when the toolbox already holds an instance of this catalog tool. */
export async function insertInstance(db: Db, row: Database['public']['Tables']['account_tool_instances']['Insert']): Promise<InstanceRow | null> {
  const { data, error } = await db.from('account_tool_instances').insert(row).select('*').single()
  if (error?.code === UNIQUE_VIOLATION) return null
  if (error) throw databaseError('create tool instance', error)
  return data
}

export async function setInstanceStatus(db: Db, instanceId: string, status: InstallationStatus, errorMessage: string | null): Promise<void> {
  const { error } = await db
    .from('account_tool_instances')
    .update({ status_on_toolbox: status, instance_error_message: errorMessage })
    .eq('id', instanceId)
  if (error) throw databaseError('update tool instance status', error)
}

export async function saveOverride(db: Db, instanceId: string, override: Json): Promise<void> {
  const { error } = await db.from('account_tool_instances').update({ base_config_override_json: override }).eq('id', instanceId)
  if (error) throw databaseError('save tool config', error)
}

export async function deleteInstance(db: Db, instanceId: string): Promise<void> {
  const { error } = await db.from('account_tool_instances').delete().eq('id', instanceId)
  if (error) throw databaseError('delete tool instance', error)
}

/** A row as the frontend sees it: every column but the stored override, plus its ports and env keys. */
export function publicInstance(row: InstanceRow): Record<string, unknown> {
  const { base_config_override_json: _secretBearing, ...rest } = row
  return { ...rest, ...configSummary(row) }
}
