// Which toolbox is calling: its own per-VM token (Authorization: Bearer
// <DTMA_BEARER_TOKEN>), looked up in account_tool_environments.dtma_bearer_token
// with the service-role client. Used by every function an agent calls
// (heartbeat, registry). The token is never echoed back.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { Database, EnvironmentStatus } from './database.ts'
import { databaseError, FunctionErrorCode, HttpError } from './http.ts'

export interface CallingToolbox {
  id: string
  status: EnvironmentStatus
}

export function bearerToken(request: Request): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')?.[1]
}

/** The caller's per-VM token, or the 401 every function a toolbox calls answers without one. */
export function requiredToolboxToken(request: Request): string {
  const token = bearerToken(request)
  if (!token) throw new HttpError(401, FunctionErrorCode.unauthorized, 'Missing or invalid Authorization header: send Bearer <DTMA_BEARER_TOKEN>')
  return token
}

export async function authenticateToolbox(request: Request, db: SupabaseClient<Database>): Promise<CallingToolbox> {
  const token = requiredToolboxToken(request)
  const { data, error } = await db.from('account_tool_environments').select('id, status').eq('dtma_bearer_token', token).limit(2)
  if (error) throw databaseError('look up toolbox token', error)
  // Two toolboxes with one token cannot tell which one is calling.
  if (data.length !== 1) throw new HttpError(401, FunctionErrorCode.unauthorized, 'Unknown DTMA_BEARER_TOKEN')
  return data[0]!
}
