// Toolbox ownership: a user may act only on account_tool_environments rows
// whose user_id is theirs. A toolbox of someone else (or an id that cannot
// be one) answers 404, so its existence is not revealed.
import type { SupabaseClient } from '@supabase/supabase-js'
import { isUuid, type Database, type EnvironmentRow } from './database.ts'
import { databaseError, FunctionErrorCode, HttpError } from './http.ts'

export async function loadOwnedToolbox(supabase: SupabaseClient<Database>, toolboxId: string, userId: string): Promise<EnvironmentRow> {
  if (!isUuid(toolboxId)) throw new HttpError(404, FunctionErrorCode.notFound, `Toolbox '${toolboxId}' not found`)
  const { data, error } = await supabase
    .from('account_tool_environments')
    .select('*')
    .eq('id', toolboxId)
    .eq('user_id', userId)
    .maybeSingle()
  if (error) throw databaseError('load toolbox', error)
  if (!data) throw new HttpError(404, FunctionErrorCode.notFound, `Toolbox '${toolboxId}' not found`)
  return data
}

export async function listOwnedToolboxes(supabase: SupabaseClient<Database>, userId: string): Promise<EnvironmentRow[]> {
  const { data, error } = await supabase.from('account_tool_environments').select('*').eq('user_id', userId)
  if (error) throw databaseError('list toolboxes', error)
  return data
}

/** A toolbox row as its owner's browser may see it: without the agent's heartbeat token. */
export function publicToolbox(row: EnvironmentRow): Omit<EnvironmentRow, 'dtma_bearer_token'> {
  const { dtma_bearer_token: _secret, ...rest } = row
  return rest
}
