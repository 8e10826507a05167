// One error handler and one not-found handler: every failure leaves as the
// contract's { success: false, error, code } with the right status, but on
// the MCP endpoint, where it is a JSON-RPC error (mcpErrorBody). A 5xx
// answers a generic sentence; the details go to the log. clientErrorReply
// and frameworkErrorReply do the same for what is refused before routing.
import type { Socket } from 'node:net'
import { ErrorCode, mcpErrorBody, routes, type RouteId } from '@dtma/contract'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { DtmaError } from '../../errors.ts'

/** Retry-After of a 503 whose error names no time of its own. */
const RETRY_AFTER_SECONDS = 5

interface ValidationIssue {
  keyword: string
  instancePath: string
  message?: string
  params: Record<string, unknown>
}

/** What one issue says about its field, without the field. */
function issueText(issue: ValidationIssue): string {
  if (issue.keyword === 'required') return `missing required field '${String(issue.params.missingProperty)}'`
  if (issue.keyword === 'additionalProperties') return `unknown field '${String(issue.params.additionalProperty)}'`
  return issue.message ?? 'is invalid'
}

/** "body.baseConfigOverrideJson.HostConfig: unknown field 'Privileged'".
 *  A field that may take several shapes (a number or numeric text, a value
 *  or null) fails each of them; the sentence names the field once with what
 *  it may be, leaving out the "or null" every optional field allows. */
export function describeValidation(context: string, issues: ValidationIssue[]): string {
  const byField = new Map<string, { texts: string[]; allowed: unknown[] }>()
  for (const issue of issues) {
    if (issue.keyword === 'anyOf' || (issue.keyword === 'type' && issue.params.type === 'null')) continue
    const path = [context, ...issue.instancePath.split('/').filter(Boolean)].join('.')
    const field = byField.get(path) ?? { texts: [], allowed: [] }
    byField.set(path, field)
    if (issue.keyword === 'const') field.allowed.push(issue.params.allowedValue)
    else if (!field.texts.includes(issueText(issue))) field.texts.push(issueText(issue))
  }
  return [...byField]
    .map(([path, { texts, allowed }]) => {
      const all = allowed.length > 0 ? [...texts, `must be one of ${allowed.map((value) => JSON.stringify(value)).join(', ')}`] : texts
      const separator = all.length === 1 && /^(missing|unknown)/.test(all[0] as string) ? ': ' : ' '
      return `${path}${separator}${all.join(', or ')}`
    })
    .join('; ')
}

function toErrorReply(error: FastifyError): { status: number; code: string; message: string; retryAfter?: string } {
  if (error instanceof DtmaError) {
    const retryAfter = error.retryAfterSeconds ?? (error.httpStatus === 503 ? RETRY_AFTER_SECONDS : undefined)
    return { status: error.httpStatus, code: error.code, message: error.message, retryAfter: retryAfter === undefined ? undefined : String(retryAfter) }
  }
  if (error.validation) {
    return { status: 400, code: ErrorCode.badRequest, message: describeValidation(error.validationContext ?? 'request', error.validation as ValidationIssue[]) }
  }
  const status = error.statusCode ?? 500
  if (status === 413) return { status, code: ErrorCode.payloadTooLarge, message: 'Request body is too large' }
  // A wrong content type is a client mistake: 400, as the contract says.
  if (status === 415) return { status: 400, code: ErrorCode.badRequest, message: `Unsupported content type: ${error.message}` }
  if (status >= 400 && status < 500) return { status: 400, code: ErrorCode.badRequest, message: error.message }
  return { status: 500, code: ErrorCode.internal, message: 'Internal error in DTMA' }
}

/** The routes whose refusals are JSON-RPC errors, as MCP clients read them. */
const MCP_ROUTES = new Set<string>((Object.keys(routes) as RouteId[]).filter((id) => routes[id].path.endsWith('/mcp')))

/** Fastify's frameworkErrors: a URL whose percent-encoding does not decode
 *  (`%ZZ`, `%C3%28`) fails before routing, outside the error handler. */
export function frameworkErrorReply(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  request.log.info({ code: error.code }, 'malformed request')
  const message = error.code === 'FST_ERR_BAD_URL' ? 'Bad Request: the URL is not valid percent-encoded UTF-8' : `Bad Request: ${error.message}`
  void reply.code(400).send({ success: false, error: message, code: ErrorCode.badRequest })
}

/** Fastify's clientErrorHandler: a request Node's parser refused (bad
 *  request line, duplicate Content-Length, headers too large, too slow)
 *  still gets the contract's error body, then the connection closes. */
export function clientErrorReply(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, code, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, ErrorCode.requestTimeout, 'Request Timeout: the request was not received in time']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, ErrorCode.headersTooLarge, 'Request Header Fields Too Large']
        : [400, ErrorCode.badRequest, 'Bad Request: malformed HTTP request']
  this.log.debug({ code: error.code, status }, 'client error')
  if (socket.writable) {
    const body = JSON.stringify({ success: false, error: message, code })
    socket.write(`HTTP/1.1 ${status} ${message.split(':')[0]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** Only a 500 is a fault of DTMA and logged as an error, with its stack.
 *  A 502 is a Docker operation that failed: a warning the operator should
 *  see. A 503 (Docker away, not ready yet) is an expected state whose cause
 *  is logged once where it starts, not once per request. */
function logFailure(request: FastifyRequest, error: FastifyError, { status, code, message }: { status: number; code: string; message: string }): void {
  if (status === 500) request.log.error({ err: error, method: request.method, url: request.url }, 'request failed')
  else if (status === 502) request.log.warn({ code, status, method: request.method, url: request.url }, message)
  else request.log.info({ code, status }, message)
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { status, code, message, retryAfter } = toErrorReply(error)
    logFailure(request, error, { status, code, message })
    if (retryAfter !== undefined) reply.header('retry-after', retryAfter)
    if (MCP_ROUTES.has(request.routeOptions.config.routeId ?? '')) return reply.code(status).send(mcpErrorBody(status, code, message))
    // The network policy's refusal is told by a word a caller branches on, the reason beside it.
    if (code === ErrorCode.networkPolicyUnavailable) return reply.code(status).send({ success: false, error: 'network_policy_unavailable', message, code })
    return reply.code(status).send({ success: false, error: message, code })
  })

  app.setNotFoundHandler((request, reply) => {
    request.log.info({ method: request.method, url: request.url }, 'unknown route')
    return reply.code(404).send({ success: false, error: 'Not Found', code: ErrorCode.routeNotFound })
  })
}

export default fp(errorsPlugin, { name: 'dtma-errors', fastify: '5.x' })
