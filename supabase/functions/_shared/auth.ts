// Who is calling: the user's JWT from the Authorization header, checked by
// Supabase Auth (supabase-js `auth.getUser`), never decoded locally.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { Database } from './database.ts'
import { FunctionErrorCode, HttpError } from './http.ts'

export async function authenticateUser(request: Request, supabase: SupabaseClient<Database>): Promise<string> {
  const match = /^Bearer\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '')
  if (!match?.[1]) throw new HttpError(401, FunctionErrorCode.unauthorized, 'Missing or invalid Authorization header')
  const { data, error } = await supabase.auth.getUser(match[1])
  if (error || !data.user) throw new HttpError(401, FunctionErrorCode.unauthorized, 'Invalid or expired session')
  return data.user.id
}
