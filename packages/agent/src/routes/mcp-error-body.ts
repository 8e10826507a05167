// The SDK's Streamable HTTP transport answers what it refuses itself with a
// JSON-RPC error body, written straight to the response. DTMA's callers get
// its own error body everywhere ({ success: false, error, code }), so a
// refusal written on a hijacked MCP response is rewritten on its way out,
// keeping the status (an MCP client reads only that) and the sentence.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { ErrorCode } from '@dtma/contract'

/** The transport's statuses that DTMA declares, with their codes; any other 4xx is a 400, a 5xx a 502. */
const CODES: Record<number, string> = {
  400: ErrorCode.badRequest,
  404: ErrorCode.mcpSessionNotFound,
  406: ErrorCode.mcpNotAcceptable,
  409: ErrorCode.conflict,
  413: ErrorCode.payloadTooLarge
}

function sentenceOf(body: string, status: number): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } }
    if (typeof parsed.error?.message === 'string') return parsed.error.message
  } catch {
    // Not JSON (an empty body): the status says it.
  }
  return `the MCP request was refused (HTTP ${status})`
}

export function contractErrorBodies(response: ServerResponse): void {
  const writeHead = response.writeHead.bind(response) as (status: number, headers?: OutgoingHttpHeaders) => ServerResponse
  const write = response.write.bind(response) as (chunk: unknown) => boolean
  const end = response.end.bind(response) as (chunk?: unknown) => ServerResponse
  const flushHeaders = response.flushHeaders.bind(response)
  let refused: number | undefined
  const parts: Buffer[] = []
  response.writeHead = ((status: number, ...rest: unknown[]) => {
    if (status < 400) return writeHead(status, ...(rest as [OutgoingHttpHeaders?]))
    refused = status
    return response
  }) as ServerResponse['writeHead']
  response.flushHeaders = () => {
    if (refused === undefined) flushHeaders()
  }
  response.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (refused === undefined) return (write as (...args: unknown[]) => boolean)(chunk, ...rest)
    if (chunk !== undefined && chunk !== null) parts.push(Buffer.from(chunk as Uint8Array))
    return true
  }) as ServerResponse['write']
  response.end = ((chunk?: unknown, ...rest: unknown[]) => {
    if (refused === undefined) return (end as (...args: unknown[]) => ServerResponse)(chunk, ...rest)
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') parts.push(Buffer.from(chunk as Uint8Array))
    const status = CODES[refused] !== undefined ? refused : refused < 500 ? 400 : 502
    const body = JSON.stringify({ success: false, error: sentenceOf(Buffer.concat(parts).toString('utf8'), refused), code: CODES[status] ?? ErrorCode.mcpUpstreamFailed })
    writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    return end(body)
  }) as ServerResponse['end']
}
