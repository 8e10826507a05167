// toolbox-tools as a pure function of (request, deps): authenticate the
// user, check they own the toolbox, run the operation, answer JSON. No
// Supabase runtime needed, so tests call it directly.
import type { SupabaseClient } from '@supabase/supabase-js'
import { agentClientFor, DEPLOY_TIMEOUT_MS, type AgentAccess } from '../_shared/agent.ts'
import { authenticateUser } from '../_shared/auth.ts'
import type { Database } from '../_shared/database.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, json, readJsonObject } from '../_shared/http.ts'
import { loadOwnedToolbox } from '../_shared/toolboxes.ts'
import type { ToolboxContext } from './context.ts'
import { deployCatalogTool } from './deploy.ts'
import { parseDeployRequest } from './deploy-request.ts'
import { listInstances, loadInstance, publicInstance } from './instances.ts'
import { removeInstance, restartInstance, startInstance, stopInstance } from './lifecycle.ts'
import { matchRoute, type ToolboxRoute } from './route.ts'

export interface ToolboxToolsDeps {
  /** Service-role client: checks user JWTs and writes the rows (after the ownership check). */
  db: SupabaseClient<Database>
  agent: AgentAccess
}

export async function handleRequest(request: Request, deps: ToolboxToolsDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    const route = matchRoute(request.method, new URL(request.url))
    if (!route) throw new HttpError(404, FunctionErrorCode.routeNotFound, 'Not Found')
    const userId = await authenticateUser(request, deps.db)
    const toolbox = await loadOwnedToolbox(deps.db, route.toolboxId, userId)
    const ctx: ToolboxContext = {
      db: deps.db,
      toolbox,
      agent: agentClientFor(toolbox, deps.agent),
      agentPort: deps.agent.port,
      deployTimeoutMs: deps.agent.deployTimeoutMs ?? DEPLOY_TIMEOUT_MS
    }
    return await run(ctx, route, request)
  } catch (error) {
    return errorResponse(error)
  }
}

async function run(ctx: ToolboxContext, route: ToolboxRoute, request: Request): Promise<Response> {
  switch (route.action) {
    case 'list':
      return json(200, { success: true, data: (await listInstances(ctx.db, ctx.toolbox.id)).map(publicInstance) })
    case 'deploy': {
      const deployed = await deployCatalogTool(ctx, parseDeployRequest(await readJsonObject(request)))
      return json(201, { success: true, message: `Tool instance '${deployed.instance_name_on_toolbox}' deployed.`, data: publicInstance(deployed) })
    }
    case 'remove': {
      const row = await loadInstance(ctx.db, ctx.toolbox.id, route.instanceId)
      await removeInstance(ctx, row)
      return json(200, { success: true, message: `Tool instance '${row.instance_name_on_toolbox}' removed.` })
    }
    case 'start':
    case 'stop':
    case 'restart': {
      const row = await loadInstance(ctx.db, ctx.toolbox.id, route.instanceId)
      const operation = { start: startInstance, stop: stopInstance, restart: restartInstance }[route.action]
      const status = await operation(ctx, row)
      return json(200, {
        success: true,
        message: `Tool instance '${row.instance_name_on_toolbox}' ${route.action === 'stop' ? 'stopped' : route.action + 'ed'}.`,
        data: publicInstance({ ...row, status_on_toolbox: status })
      })
    }
  }
}
