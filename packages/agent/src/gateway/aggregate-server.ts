// The aggregated endpoint as an MCP server of the official SDK v2, made for
// one caller: its listings and calls are the aggregator's, for that caller.
// The same server serves both eras: a 2025 session (initialize) and a
// 2026-07-28 request (stateless, server/discover), as the SDK serves them.
import { ProtocolError, Server } from '@modelcontextprotocol/server'
import { type Aggregator, GatewayRefusal } from './aggregator.ts'
import type { GatewayCaller } from './gateway-api.ts'

export const GATEWAY_CAPABILITIES = { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true } }

const INSTRUCTIONS =
  "Every MCP server of this DTMA toolbox behind one endpoint: each tool, resource template and prompt is named `<server prefix>_<name>` (the instance's gateway_prefix); resources keep their servers' URIs unless two servers list the same one (then `mcp+<prefix>:<uri>`)."

/** Runs a handler, its refusals as JSON-RPC errors. */
async function answered<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof GatewayRefusal) throw new ProtocolError(error.code, error.message, error.data)
    throw error
  }
}

// The servers' own results pass as they wrote them; the SDK's types are the spec's.
type Answer = never

export function aggregateServer(aggregator: Aggregator, caller: GatewayCaller, version: string): Server {
  const server = new Server({ name: 'dtma-gateway', version }, { capabilities: GATEWAY_CAPABILITIES, instructions: INSTRUCTIONS })
  const catalog = () => aggregator.catalog(caller)
  server.setRequestHandler('tools/list', () => answered(async () => ({ tools: (await catalog()).tools }) as Answer))
  server.setRequestHandler('tools/call', (request) => answered(async () => (await aggregator.callTool(caller, request.params)) as Answer))
  server.setRequestHandler('resources/list', () => answered(async () => ({ resources: (await catalog()).resources }) as Answer))
  server.setRequestHandler('resources/templates/list', () => answered(async () => ({ resourceTemplates: (await catalog()).templates }) as Answer))
  server.setRequestHandler('resources/read', (request) => answered(async () => (await aggregator.readResource(caller, request.params)) as Answer))
  server.setRequestHandler('prompts/list', () => answered(async () => ({ prompts: (await catalog()).prompts }) as Answer))
  server.setRequestHandler('prompts/get', (request) => answered(async () => (await aggregator.getPrompt(caller, request.params)) as Answer))
  return server
}
