// JSON responses and the one error type the DTMA edge functions throw: every
// failure reaches the caller as `{ success:false, error, code }`, the same
// shape the agent answers, so the frontend branches on `code` either way.

export const CORS_HEADERS: Readonly<Record<string, string>> = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type',
  'access-control-allow-methods': 'GET, POST, DELETE, OPTIONS'
}

/** Function-side error codes; the agent's own codes (DTMA_*) pass through unchanged. */
export const FunctionErrorCode = {
  unauthorized: 'DTMA_UNAUTHORIZED',
  forbidden: 'DTMA_FORBIDDEN',
  enrolmentUsed: 'DTMA_ENROLMENT_USED',
  enrolmentExpired: 'DTMA_ENROLMENT_EXPIRED',
  badRequest: 'DTMA_BAD_REQUEST',
  notFound: 'DTMA_NOT_FOUND',
  routeNotFound: 'DTMA_ROUTE_NOT_FOUND',
  toolboxNotReady: 'DTMA_TOOLBOX_NOT_READY',
  agentTimeout: 'DTMA_AGENT_TIMEOUT',
  agentUnreachable: 'DTMA_AGENT_UNREACHABLE',
  agentBadResponse: 'DTMA_AGENT_BAD_RESPONSE',
  agentCertificateRefused: 'DTMA_AGENT_CERTIFICATE_REFUSED',
  database: 'DTMA_DATABASE_ERROR',
  internal: 'DTMA_INTERNAL'
} as const

export class HttpError extends Error {
  readonly status: number
  readonly code: string
  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'HttpError'
    this.status = status
    this.code = code
  }
}

export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...CORS_HEADERS, 'content-type': 'application/json' }
  })
}

export function errorResponse(error: unknown): Response {
  if (error instanceof HttpError) return json(error.status, { success: false, error: error.message, code: error.code })
  // An unexpected throw is a bug: say so without echoing internals.
  console.error('edge function bug:', error instanceof Error ? error.stack : String(error))
  return json(500, { success: false, error: 'Internal error', code: FunctionErrorCode.internal })
}

/** Read a JSON object body; anything else is the caller's mistake (400). */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const text = await request.text()
  if (text.trim() === '') return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new HttpError(400, FunctionErrorCode.badRequest, 'Request body is not valid JSON')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, FunctionErrorCode.badRequest, 'Request body must be a JSON object')
  }
  return parsed as Record<string, unknown>
}

/** PostgREST's message names the table/column problem; it holds no secrets. */
export function databaseError(action: string, error: { message: string }): HttpError {
  return new HttpError(500, FunctionErrorCode.database, `Database error (${action}): ${error.message}`)
}
