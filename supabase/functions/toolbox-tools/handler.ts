// toolbox-tools as a pure function of (request, deps): authenticate the
// user, read the route (from the path, or the body for the body-only forms),
// check they own the toolbox, run the operation, answer JSON. No Supabase
// runtime needed, so tests call it directly.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { AgentAccess } from '../_shared/agent.ts'
import { authenticateUser } from '../_shared/auth.ts'
import type { Database, InstallationStatus } from '../_shared/database.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, json, readJsonObject } from '../_shared/http.ts'
import { loadOwnedToolbox } from '../_shared/toolboxes.ts'
import { toolboxContext, type ToolboxContext } from './context.ts'
import { deployCatalogTool } from './deploy.ts'
import { parseDeployRequest } from './deploy-request.ts'
import { listInstances, publicInstance } from './instances.ts'
import { removeInstance, restartInstance, startInstance, stopInstance } from './lifecycle.ts'
import { liveInstanceList } from './live-list.ts'
import { instanceLogs } from './logs.ts'
import { resolveInstance } from './resolve.ts'
import { mcpAccess } from './mcp-access.ts'
import { matchPath, parseBodyForm, parseMcpAccessBody, type ToolboxRoute } from './route.ts'

export interface ToolboxToolsDeps {
  /** Service-role client: checks user JWTs and writes the rows (after the ownership check). */
  db: SupabaseClient<Database>
  agent: AgentAccess
  now?: () => Date
}

export async function handleRequest(request: Request, deps: ToolboxToolsDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    const match = matchPath(request.method, new URL(request.url))
    if (!match) throw new HttpError(404, FunctionErrorCode.routeNotFound, 'Not Found')
    const userId = await authenticateUser(request, deps.db)
    const route = 'route' in match ? match.route : parseBodyForm(await readJsonObject(request), match.bodyForm.toolboxId)
    const toolbox = await loadOwnedToolbox(deps.db, route.toolboxId, userId)
    const ctx = toolboxContext(deps.db, toolbox, deps.agent)
    try {
      return await run(ctx, route, request, userId, deps.now?.() ?? new Date())
    } finally {
      ctx.close()
    }
  } catch (error) {
    return errorResponse(error)
  }
}

const DONE: Record<'start' | 'stop' | 'restart', string> = { start: 'started', stop: 'stopped', restart: 'restarted' }

async function run(ctx: ToolboxContext, route: ToolboxRoute, request: Request, userId: string, now: Date): Promise<Response> {
  switch (route.action) {
    case 'mcp-access': {
      // The path form carries its fields in the body (which may be empty); the body form has read them.
      const fields = request.bodyUsed ? {} : parseMcpAccessBody(await readJsonObject(request))
      return json(200, { success: true, instanceId: route.instanceId, ...(await mcpAccess(ctx, { ...route, ...fields }, userId, now)) })
    }
    case 'list-rows':
      return json(200, (await listInstances(ctx.db, ctx.toolbox.id)).map(publicInstance))
    case 'list-live':
      return json(200, await liveInstanceList(ctx, now))
    case 'deploy': {
      const { row, agent } = await deployCatalogTool(ctx, parseDeployRequest(await readJsonObject(request)))
      // The row at the top (adminMCPService reads deployment.id) and the earlier answer's keys.
      return json(201, {
        success: true,
        ...publicInstance(row),
        status: row.status_on_toolbox,
        serverName: row.instance_name_on_toolbox,
        message: agent.message,
        warnings: agent.warnings,
        data: agent.data
      })
    }
  }
  const target = await resolveInstance(ctx, route.instanceId)
  const answer = { success: true, instanceId: route.instanceId, action: route.action, timestamp: now.toISOString() }
  switch (route.action) {
    case 'logs':
      return json(200, { ...answer, instanceName: target.name, logs: await instanceLogs(ctx, target, route.tail) })
    case 'delete':
      await removeInstance(ctx, target)
      return json(200, { ...answer, message: `Tool instance '${target.name}' removed.` })
    case 'start':
    case 'stop':
    case 'restart': {
      const operation = { start: startInstance, stop: stopInstance, restart: restartInstance }[route.action]
      const status: InstallationStatus = await operation(ctx, target)
      return json(200, {
        ...answer,
        message: `Tool instance '${target.name}' ${DONE[route.action]}.`,
        status,
        data: target.row ? publicInstance({ ...target.row, status_on_toolbox: status }) : null
      })
    }
  }
}
