// registry as a pure function of (request, deps): a DTMA agent mirrors its
// instances into dtma_container_registry through here, authenticated by its
// own per-VM token (never the service-role key, which stays in the backend).
// The toolbox the token names is handed to the database functions of
// 20261205120000_dtma_toolbox_credentials.sql, which write, delete or read
// only rows of that toolbox's instances: the ownership check is in SQL.
// `audit`: a batch of the toolbox's MCP calls into dtma_mcp_audit
// (20261205170000_dtma_mcp_audit.sql), refused whole when a row names an
// instance of another toolbox; a batch sent again adds nothing.
// Answers 200 JSON (@dtma/contract RegistryResponse); 401 bad token, 403 not
// this toolbox's instance, 400 a bad row, 500 when the database fails (the
// agent's outbox retries that).
import type { SupabaseClient } from '@supabase/supabase-js'
import { RegistryRequest, type RegistryResponse } from '../../../packages/contract/src/index.ts'
import type { Database, Json } from '../_shared/database.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, json, readJsonObject } from '../_shared/http.ts'
import { rpcError } from '../_shared/rpc-error.ts'
import { authenticateToolbox } from '../_shared/toolbox-auth.ts'
import { validated } from '../_shared/validation.ts'

export interface RegistryDeps {
  /** Service-role client: the toolbox's token is checked here, its rights in SQL. */
  db: SupabaseClient<Database>
}

export async function handleRequest(request: Request, deps: RegistryDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const toolbox = await authenticateToolbox(request, deps.db)
    const body = validated(RegistryRequest, await readJsonObject(request), 'registry request')
    return json(200, await apply(body, toolbox.id, deps.db))
  } catch (error) {
    return errorResponse(error)
  }
}

async function apply(body: RegistryRequest, toolboxId: string, db: SupabaseClient<Database>): Promise<RegistryResponse> {
  switch (body.operation) {
    case 'upsert': {
      const { error } = await db.rpc('dtma_registry_upsert', { p_account_tool_environment_id: toolboxId, p_row: body.row as unknown as Json })
      if (error) throw rpcError('registry upsert', error)
      return { success: true, operation: 'upsert', account_tool_instance_id: body.row.account_tool_instance_id }
    }
    case 'delete': {
      const { error } = await db.rpc('dtma_registry_delete', { p_account_tool_environment_id: toolboxId, p_account_tool_instance_id: body.account_tool_instance_id })
      if (error) throw rpcError('registry delete', error)
      return { success: true, operation: 'delete', account_tool_instance_id: body.account_tool_instance_id }
    }
    case 'audit': {
      const { data, error } = await db.rpc('dtma_audit_insert', { p_account_tool_environment_id: toolboxId, p_rows: body.rows as unknown as Json })
      if (error) throw rpcError('registry audit', error)
      return { success: true, operation: 'audit', accepted: data ?? 0 }
    }
    case 'list': {
      const { data, error } = await db.rpc('dtma_registry_rows', { p_account_tool_environment_id: toolboxId })
      if (error) throw rpcError('registry list', error)
      return { success: true, operation: 'list', rows: data ?? [] }
    }
  }
}
