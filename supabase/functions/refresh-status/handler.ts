// refresh-status as a pure function of (request, deps): for one toolbox
// (body `{ toolboxId }`) or all of the caller's, refresh it from its agent
// (see _shared/toolbox-refresh.ts) and say what became of each.
import { authenticateUser } from '../_shared/auth.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, json, readJsonObject } from '../_shared/http.ts'
import { refreshToolbox, type RefreshDeps } from '../_shared/toolbox-refresh.ts'
import { listOwnedToolboxes, loadOwnedToolbox } from '../_shared/toolboxes.ts'

export type RefreshStatusDeps = RefreshDeps

export async function handleRequest(request: Request, deps: RefreshStatusDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const userId = await authenticateUser(request, deps.db)
    const { toolboxId } = await readJsonObject(request)
    if (toolboxId !== undefined && (typeof toolboxId !== 'string' || toolboxId === '')) {
      throw new HttpError(400, FunctionErrorCode.badRequest, 'toolboxId must be a non-empty string')
    }
    const toolboxes = toolboxId === undefined ? await listOwnedToolboxes(deps.db, userId) : [await loadOwnedToolbox(deps.db, toolboxId, userId)]
    // Toolboxes are independent: one slow agent must not delay the others' answers.
    const data = await Promise.all(toolboxes.map((toolbox) => refreshToolbox(toolbox, deps)))
    return json(200, { success: true, data })
  } catch (error) {
    return errorResponse(error)
  }
}
