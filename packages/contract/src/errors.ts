// Stable machine-readable error codes. `error` is the human sentence that
// callers already match on; `code` is what new callers should branch on.
export const ErrorCode = {
  badRequest: 'DTMA_BAD_REQUEST',
  unauthorized: 'DTMA_UNAUTHORIZED',
  forbidden: 'DTMA_FORBIDDEN',
  notFound: 'DTMA_NOT_FOUND',
  routeNotFound: 'DTMA_ROUTE_NOT_FOUND',
  conflict: 'DTMA_CONFLICT',
  portConflict: 'DTMA_PORT_CONFLICT',
  payloadTooLarge: 'DTMA_PAYLOAD_TOO_LARGE',
  rateLimited: 'DTMA_RATE_LIMITED',
  requestTimeout: 'DTMA_REQUEST_TIMEOUT',
  headersTooLarge: 'DTMA_HEADERS_TOO_LARGE',
  dockerUnavailable: 'DTMA_DOCKER_UNAVAILABLE',
  dockerError: 'DTMA_DOCKER_ERROR',
  imagePullFailed: 'DTMA_IMAGE_PULL_FAILED',
  notReady: 'DTMA_NOT_READY',
  notImplemented: 'DTMA_NOT_IMPLEMENTED',
  notMcp: 'DTMA_NOT_AN_MCP_SERVER',
  mcpUnavailable: 'DTMA_MCP_UNAVAILABLE',
  mcpSessionNotFound: 'DTMA_MCP_SESSION_NOT_FOUND',
  mcpNotAcceptable: 'DTMA_MCP_NOT_ACCEPTABLE',
  mcpOriginRefused: 'DTMA_MCP_ORIGIN_REFUSED',
  mcpUpstreamFailed: 'DTMA_MCP_UPSTREAM_FAILED',
  mcpNotReady: 'DTMA_MCP_NOT_READY',
  toolNotGranted: 'DTMA_TOOL_NOT_GRANTED',
  toolWithheld: 'DTMA_TOOL_WITHHELD',
  mcpSessionOfOtherGrant: 'DTMA_MCP_SESSION_OF_OTHER_GRANT',
  tooManyStreams: 'DTMA_TOO_MANY_STREAMS',
  networkPolicyUnavailable: 'DTMA_NETWORK_POLICY_UNAVAILABLE',
  internal: 'DTMA_INTERNAL'
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** The sentence the backend matches on for an unknown instance. */
export function instanceNotFoundMessage(instanceName: string): string {
  return `Tool instance '${instanceName}' not found or not managed by this DTMA.`
}
