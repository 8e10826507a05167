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
  | 'not-mcp'
  | 'mcp-unavailable'
  | 'mcp-session-not-found'
  | 'mcp-not-acceptable'
  | 'mcp-origin-refused'
  | 'mcp-too-large'
  | 'mcp-upstream-failed'
  | 'mcp-not-ready'
  | 'mcp-session-of-other-grant'
  | 'too-many-streams'
  | 'network-policy-unavailable'

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
  'not-implemented': { status: 501, code: ErrorCode.notImplemented },
  'not-mcp': { status: 409, code: ErrorCode.notMcp },
  'mcp-unavailable': { status: 503, code: ErrorCode.mcpUnavailable },
  'mcp-session-not-found': { status: 404, code: ErrorCode.mcpSessionNotFound },
  'mcp-not-acceptable': { status: 406, code: ErrorCode.mcpNotAcceptable },
  'mcp-origin-refused': { status: 403, code: ErrorCode.mcpOriginRefused },
  'mcp-too-large': { status: 413, code: ErrorCode.payloadTooLarge },
  'mcp-upstream-failed': { status: 502, code: ErrorCode.mcpUpstreamFailed },
  'mcp-not-ready': { status: 504, code: ErrorCode.mcpNotReady },
  'mcp-session-of-other-grant': { status: 403, code: ErrorCode.mcpSessionOfOtherGrant },
  'too-many-streams': { status: 503, code: ErrorCode.tooManyStreams },
  'network-policy-unavailable': { status: 503, code: ErrorCode.networkPolicyUnavailable }
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
