// The aggregated endpoint's part of the contract conformance test: every
// declared status of /mcp (POST, GET, DELETE), provoked on an agent whose
// MCP session cap is small (DTMA_MCP_MAX_SESSIONS), with a 2025 session.
import { randomUUID } from 'node:crypto'
import type { DtmaClient } from '@dtma/contract'
import type { Test } from 'tap'
import type { TestAgent } from '../helpers/agent.ts'

const INITIALIZE = { jsonrpc: '2.0' as const, id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'conformance', version: '1' } } }
const TOOLS_LIST = { jsonrpc: '2.0' as const, id: 2, method: 'tools/list' }
const INITIALIZED = { jsonrpc: '2.0' as const, method: 'notifications/initialized' }

type Call = (args?: unknown) => Promise<{ status: number; response?: Response }>

/** maxSessions: the agent's DTMA_MCP_MAX_SESSIONS. */
export async function provokeGatewayStatuses(t: Test, agent: TestAgent, client: DtmaClient, maxSessions: number): Promise<void> {
  const call = client as unknown as Record<string, Call>
  const opened = await call.gatewayPost?.({ body: INITIALIZE })
  t.equal(opened?.status, 200, '/mcp: initialize opens a 2025 session')
  const headers = { 'mcp-session-id': opened?.response?.headers.get('mcp-session-id') ?? '', 'mcp-protocol-version': '2025-06-18' }
  await opened?.response?.body?.cancel()
  t.equal((await call.gatewayPost?.({ body: INITIALIZED, headers }))?.status, 202, '/mcp: a notification: 202')
  const listed = await call.gatewayPost?.({ body: TOOLS_LIST, headers })
  t.equal(listed?.status, 200, '/mcp: tools/list in the session')
  await listed?.response?.body?.cancel()
  t.equal((await call.gatewayPost?.({ body: TOOLS_LIST }))?.status, 400, '/mcp: a 2025 request without a session')
  t.equal((await call.gatewayPost?.({ body: TOOLS_LIST, headers: { ...headers, 'mcp-session-id': randomUUID() } }))?.status, 404, '/mcp: an unknown session')
  t.equal((await call.gatewayPost?.({ body: TOOLS_LIST, headers: { ...headers, accept: 'application/json' } }))?.status, 406, '/mcp: Accept without text/event-stream')
  t.equal((await call.gatewayPost?.({ body: { ...TOOLS_LIST, params: { pad: 'x'.repeat(agent.config.bodyLimitBytes) } }, headers }))?.status, 413, '/mcp: over the body limit')
  t.equal((await call.gatewayPost?.({ body: TOOLS_LIST, headers: { ...headers, origin: 'http://evil.example' } }))?.status, 403, '/mcp: a foreign Origin')

  const stream = await call.gatewayStream?.({ headers })
  t.equal(stream?.status, 200, '/mcp: the session stream')
  t.equal((await call.gatewayStream?.({ headers }))?.status, 409, '/mcp: a second stream of the session')
  await stream?.response?.body?.cancel()
  t.equal((await call.gatewayStream?.({}))?.status, 400, '/mcp: stream without a session header')
  t.equal((await call.gatewayStream?.({ headers: { ...headers, 'mcp-session-id': randomUUID() } }))?.status, 404, '/mcp: stream of an unknown session')
  t.equal((await call.gatewayStream?.({ headers: { ...headers, accept: 'application/json' } }))?.status, 406, '/mcp: stream without Accept text/event-stream')

  // The session cap: one more than it allows is a 503.
  const others: Array<Record<string, string>> = []
  for (let open = 1; open < maxSessions; open++) {
    const another = await call.gatewayPost?.({ body: INITIALIZE })
    await another?.response?.body?.cancel()
    others.push({ 'mcp-session-id': another?.response?.headers.get('mcp-session-id') ?? '' })
  }
  t.equal((await call.gatewayPost?.({ body: INITIALIZE }))?.status, 503, '/mcp: a session over DTMA_MCP_MAX_SESSIONS')

  t.equal((await call.gatewayEnd?.({}))?.status, 400, '/mcp: end without a session header')
  t.equal((await call.gatewayEnd?.({ headers: { 'mcp-session-id': randomUUID() } }))?.status, 404, '/mcp: end of an unknown session')
  t.equal((await call.gatewayEnd?.({ headers }))?.status, 200, '/mcp: end the session')
  for (const other of others) await call.gatewayEnd?.({ headers: other })
  t.equal((await call.gatewayPost?.({ body: TOOLS_LIST, headers }))?.status, 404, '/mcp: the ended session is gone')
}
