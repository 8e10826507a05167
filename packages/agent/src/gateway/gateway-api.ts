// What the HTTP app needs of the aggregated endpoint (/mcp): one web-standard
// request in, its answer out, for a caller whose grant the route read. The
// app is built on this interface; only the composition root builds the
// gateway.
import type { McpAccess } from '../mcp/mcp-api.ts'

export interface GatewayCaller {
  /** The same for every credential of the same subject, instances and tools: a 2025 session stays with it. */
  binding: string
  /** Narrowed to instances or tools: what it may not see it is told it may not call. */
  narrowed: boolean
  /** What it may use of an instance's server; undefined: that instance is not granted. */
  accessTo(accountToolInstanceId: string): McpAccess | undefined
}

export interface GatewayApi {
  /** Answers one request of /mcp (POST, GET, DELETE); parsedBody: the POST's JSON, read once by the app. */
  handle(request: Request, caller: GatewayCaller, parsedBody?: unknown): Promise<Response>
}
