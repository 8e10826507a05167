// A database function's failure as the caller's answer. The functions of
// DTMA's migrations raise SQLSTATE PTnnn for "answer HTTP nnn" (PostgREST's
// convention): their sentence is meant for the caller and holds no secret.
// A value the table refuses (class 22 or 23) is the request's fault (400);
// anything else is the backend's (500, which a toolbox retries).
import { databaseError, FunctionErrorCode, HttpError } from './http.ts'

const CODE_OF: Record<number, string> = {
  400: FunctionErrorCode.badRequest,
  401: FunctionErrorCode.unauthorized,
  403: FunctionErrorCode.forbidden,
  404: FunctionErrorCode.notFound,
  409: FunctionErrorCode.enrolmentUsed,
  410: FunctionErrorCode.enrolmentExpired
}

export function rpcError(action: string, error: { code?: string; message: string }): HttpError {
  const status = Number(/^PT([45]\d\d)$/.exec(error.code ?? '')?.[1])
  if (CODE_OF[status] !== undefined) return new HttpError(status, CODE_OF[status], error.message)
  if (/^2[23]/.test(error.code ?? '')) return new HttpError(400, FunctionErrorCode.badRequest, `Refused by the database (${action}): ${error.message}`)
  return databaseError(action, error)
}
