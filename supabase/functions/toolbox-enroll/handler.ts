// toolbox-enroll as a pure function of (request, deps): a new toolbox trades
// the single-use enrolment token of its user-data for its per-VM credentials.
// The token comes in the body ({ enrolment_token }) or as Authorization:
// Bearer; dtma_redeem_enrolment (SQL) finds it by its SHA-256, refuses it
// when used (409) or older than an hour (410), marks it used and mints the
// toolbox's new per-VM token. The answer (@dtma/contract ToolboxCredentials)
// carries no fleet key: only its SHA-256, so the agent can accept the
// deployed backend's calls without holding the key.
import type { SupabaseClient } from '@supabase/supabase-js'
import { EnrolRequest, type ToolboxCredentials } from '../../../packages/contract/src/index.ts'
import type { Database } from '../_shared/database.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, json, readJsonObject } from '../_shared/http.ts'
import { rpcError } from '../_shared/rpc-error.ts'
import { bearerToken } from '../_shared/toolbox-auth.ts'
import { validated } from '../_shared/validation.ts'

export interface EnrolSettings {
  /** SHA-256 (hex) of BACKEND_TO_DTMA_API_KEY while the deployed backend still calls agents with it; null once it does not. */
  backendApiKeySha256: string | null
  functionsUrl: string
  supabaseUrl: string
  anonKey: string | null
}

export interface EnrolDeps {
  db: SupabaseClient<Database>
  settings: EnrolSettings
}

export async function handleRequest(request: Request, deps: EnrolDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const body = validated(EnrolRequest, await readJsonObject(request), 'enrolment request')
    const token = body.enrolment_token ?? bearerToken(request)
    if (!token) throw new HttpError(401, FunctionErrorCode.unauthorized, 'Send the enrolment token as {"enrolment_token": ...} or Authorization: Bearer <token>')
    const { data, error } = await deps.db.rpc('dtma_redeem_enrolment', { p_token: token })
    if (error) throw rpcError('redeem enrolment', error)
    const toolbox = data?.[0]
    if (toolbox === undefined) throw new HttpError(500, FunctionErrorCode.database, 'Database error (redeem enrolment): no toolbox answered')
    const credentials: ToolboxCredentials = {
      success: true,
      account_tool_environment_id: toolbox.account_tool_environment_id,
      dtma_bearer_token: toolbox.dtma_bearer_token,
      backend_api_key_sha256: deps.settings.backendApiKeySha256,
      functions_url: deps.settings.functionsUrl,
      supabase_url: deps.settings.supabaseUrl,
      supabase_anon_key: deps.settings.anonKey
    }
    return json(200, credentials)
  } catch (error) {
    return errorResponse(error)
  }
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, '0')).join('')
}
