// account_tool_instances rows of one toolbox: load, insert, status writes,
// removal, and the public view returned to the frontend (no env values).
import type { SupabaseClient } from '@supabase/supabase-js'
import type { Database, InstallationStatus, InstanceRow, Json, StoredToolConfig } from '../_shared/database.ts'
import { databaseError, FunctionErrorCode, HttpError } from '../_shared/http.ts'

type Db = SupabaseClient<Database>

export async function listInstances(db: Db, toolboxId: string): Promise<InstanceRow[]> {
  const { data, error } = await db.from('account_tool_instances').select('*').eq('account_tool_environment_id', toolboxId)
  if (error) throw databaseError('list tool instances', error)
  return data
}

export async function loadInstance(db: Db, toolboxId: string, instanceId: string): Promise<InstanceRow> {
  const { data, error } = await db
    .from('account_tool_instances')
    .select('*')
    .eq('id', instanceId)
    .eq('account_tool_environment_id', toolboxId)
    .maybeSingle()
  if (error) throw databaseError('load tool instance', error)
  if (!data) throw new HttpError(404, FunctionErrorCode.notFound, `Tool instance '${instanceId}' not found on toolbox '${toolboxId}'`)
  return data
}

export async function insertInstance(db: Db, row: Database['public']['Tables']['account_tool_instances']['Insert']): Promise<InstanceRow> {
  const { data, error } = await db.from('account_tool_instances').insert(row).select('*').single()
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

export async function saveToolConfig(db: Db, instanceId: string, config: StoredToolConfig): Promise<void> {
  const { error } = await db
    .from('account_tool_instances')
    .update({ base_config_override_json: config as unknown as Json })
    .eq('id', instanceId)
  if (error) throw databaseError('save tool config', error)
}

export async function deleteInstance(db: Db, instanceId: string): Promise<void> {
  const { error } = await db.from('account_tool_instances').delete().eq('id', instanceId)
  if (error) throw databaseError('delete tool instance', error)
}

/** The stored deploy config, or null for a row this function did not deploy. */
export function storedToolConfig(row: InstanceRow): StoredToolConfig | null {
  const value = row.base_config_override_json as Partial<StoredToolConfig> | null
  if (!value || typeof value !== 'object' || typeof value.hostPort !== 'number' || typeof value.containerPort !== 'number') return null
  return {
    dockerImage: typeof value.dockerImage === 'string' ? value.dockerImage : row.docker_image_url,
    containerPort: value.containerPort,
    hostPort: value.hostPort,
    environmentVariables: value.environmentVariables ?? {}
  }
}

/** A row as the frontend sees it: ports and env keys, never env values. */
export function publicInstance(row: InstanceRow): Record<string, unknown> {
  const { base_config_override_json: _secretBearing, ...rest } = row
  const config = storedToolConfig(row)
  return {
    ...rest,
    host_port: config?.hostPort ?? null,
    container_port: config?.containerPort ?? null,
    environment_variable_keys: Object.keys(config?.environmentVariables ?? {})
  }
}
