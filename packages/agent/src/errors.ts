// Errors as values with a kind. The HTTP status of each kind is decided here,
// once; modules below the routes throw DtmaError and never think in HTTP.
import { ErrorCode } from '@dtma/contract'

export type ErrorKind =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'port-conflict'
  | 'unavailable'
  | 'docker-failed'
  | 'pull-failed'
  | 'not-ready'
  | 'rate-limited'
  | 'not-implemented'

const httpByKind: Record<ErrorKind, { status: number; code: ErrorCode }> = {
  invalid: { status: 400, code: ErrorCode.badRequest },
  unauthorized: { status: 401, code: ErrorCode.unauthorized },
  forbidden: { status: 403, code: ErrorCode.forbidden },
  'not-found': { status: 404, code: ErrorCode.notFound },
  conflict: { status: 409, code: ErrorCode.conflict },
  'port-conflict': { status: 409, code: ErrorCode.portConflict },
  unavailable: { status: 503, code: ErrorCode.dockerUnavailable },
  'docker-failed': { status: 502, code: ErrorCode.dockerError },
  'pull-failed': { status: 502, code: ErrorCode.imagePullFailed },
  'not-ready': { status: 503, code: ErrorCode.notReady },
  'rate-limited': { status: 429, code: ErrorCode.rateLimited },
  'not-implemented': { status: 501, code: ErrorCode.notImplemented }
}

export class DtmaError extends Error {
  readonly kind: ErrorKind
  /** Sent as Retry-After: when the caller may try again. */
  readonly retryAfterSeconds: number | undefined
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options)
    this.name = 'DtmaError'
    this.kind = kind
    this.retryAfterSeconds = options?.retryAfterSeconds
  }

  get httpStatus(): number {
    return httpByKind[this.kind].status
  }

  get code(): ErrorCode {
    return httpByKind[this.kind].code
  }
}

export function isDtmaError(error: unknown, kind?: ErrorKind): error is DtmaError {
  return error instanceof DtmaError && (kind === undefined || error.kind === kind)
}
