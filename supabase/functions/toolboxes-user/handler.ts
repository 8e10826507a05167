// The one toolboxes-user route DTMA serves, at the path Agentopia's frontend
// calls: POST toolboxes-user/{toolboxId}/refresh-status refreshes the
// toolbox from its agent (the same refresh as the refresh-status function)
// and answers its account_tool_environments row afterwards, which the
// frontend reads back. Every other toolboxes-user path is a 404 that says so.
import { authenticateUser } from '../_shared/auth.ts'
import { CORS_HEADERS, errorResponse, FunctionErrorCode, HttpError, json } from '../_shared/http.ts'
import { refreshToolbox, type RefreshDeps } from '../_shared/toolbox-refresh.ts'
import { loadOwnedToolbox, publicToolbox } from '../_shared/toolboxes.ts'

const FUNCTION_NAME = 'toolboxes-user'

export async function handleRequest(request: Request, deps: RefreshDeps): Promise<Response> {
  if (request.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS_HEADERS })
  try {
    const segments = new URL(request.url).pathname.split('/').filter((segment) => segment !== '').map(decodeURIComponent)
    const start = segments.indexOf(FUNCTION_NAME)
    const [toolboxId, verb, ...extra] = start === -1 ? segments : segments.slice(start + 1)
    if (toolboxId === undefined || verb !== 'refresh-status' || extra.length > 0) {
      throw new HttpError(404, FunctionErrorCode.routeNotFound, `DTMA serves only POST ${FUNCTION_NAME}/{toolboxId}/refresh-status of ${FUNCTION_NAME}`)
    }
    if (request.method !== 'POST') throw new HttpError(405, FunctionErrorCode.routeNotFound, 'Use POST')
    const userId = await authenticateUser(request, deps.db)
    await refreshToolbox(await loadOwnedToolbox(deps.db, toolboxId, userId), deps)
    return json(200, publicToolbox(await loadOwnedToolbox(deps.db, toolboxId, userId)))
  } catch (error) {
    return errorResponse(error)
  }
}
