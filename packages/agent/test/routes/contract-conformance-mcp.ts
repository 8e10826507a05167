// The MCP routes' part of the contract conformance test: every declared
// status of /tools/{name}/mcp, /tools/{name}/capabilities and a deploy's
// waitForMcp, provoked against real MCP servers (and busybox httpd posing as
// an http one, for what a server that is not MCP answers).
import { randomUUID } from 'node:crypto'
import type { DtmaClient } from '@dtma/contract'
import type { Test } from 'tap'
import { TEST_IMAGE, uniqueName, type TestAgent } from '../helpers/agent.ts'
import { MCP_IMAGES, mcpDeployBody } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

const INITIALIZE = { jsonrpc: '2.0' as const, id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'conformance', version: '1' } } }
const TOOLS_LIST = { jsonrpc: '2.0' as const, id: 2, method: 'tools/list' }
const INITIALIZED = { jsonrpc: '2.0' as const, method: 'notifications/initialized' }

type Call = (args?: unknown) => Promise<{ status: number; response?: Response }>

export async function provokeMcpStatuses(t: Test, agent: TestAgent, client: DtmaClient): Promise<void> {
  const call = client as unknown as Record<string, Call>
  const stdio = uniqueName('Conformance Stdio')
  const plain = uniqueName('Conformance Plain')
  const notMcp = uniqueName('Conformance NotMcp')
  const silent = uniqueName('Conformance Silent')
  const strict = uniqueName('Conformance Strict')
  for (const name of [stdio, plain, notMcp, silent, strict]) agent.deployBody(name)
  const deploy = (body: unknown) => call.deployTool?.({ body }) as Promise<{ status: number }>

  t.equal((await deploy({ ...mcpDeployBody(stdio, MCP_IMAGES.toolsV1, 'stdio'), waitForMcp: true })).status, 201, 'deploy waits for the MCP server')
  t.equal((await deploy({ ...mcpDeployBody(silent, MCP_IMAGES.silent, 'stdio'), waitForMcp: true })).status, 504, 'a server that never answers: 504, deployed anyway')
  t.equal((await deploy({ ...agent.deployBody(notMcp), waitForMcp: true })).status, 400, 'waitForMcp without mcpTransport')
  t.equal((await call.getTool?.({ params: { name: notMcp } }))?.status, 404, 'and nothing was deployed for it')
  t.equal((await deploy(agent.deployBody(notMcp))).status, 201)
  // busybox httpd posing as an http MCP server on "/": what it answers is not MCP.
  t.equal((await deploy(mcpDeployBody(plain, TEST_IMAGE, 'http', { mcpPort: 8080, mcpEndpoint: '/' }))).status, 201)

  const params = { name: stdio }
  const opened = await call.mcpPost?.({ params, body: INITIALIZE })
  t.equal(opened?.status, 200, 'initialize opens a session')
  const session = opened?.response?.headers.get('mcp-session-id') ?? ''
  t.match(session, /^[0-9a-f-]{36}$/)
  const headers = { 'mcp-session-id': session }
  t.equal((await call.mcpPost?.({ params, body: INITIALIZED, headers }))?.status, 202, 'a notification: 202')
  t.equal((await call.mcpPost?.({ params, body: TOOLS_LIST }))?.status, 400, 'no session header')
  t.equal((await call.mcpPost?.({ params, body: TOOLS_LIST, headers: { 'mcp-session-id': randomUUID() } }))?.status, 404, 'unknown session')
  t.equal((await call.mcpPost?.({ params: { name: uniqueName('Nobody') }, body: INITIALIZE }))?.status, 404, 'unknown instance')
  t.equal((await call.mcpPost?.({ params, body: TOOLS_LIST, headers: { ...headers, accept: 'application/json' } }))?.status, 406, 'Accept without text/event-stream')
  t.equal((await call.mcpPost?.({ params: { name: notMcp }, body: INITIALIZE }))?.status, 409, 'not an MCP server')
  t.equal((await call.mcpPost?.({ params, body: { ...TOOLS_LIST, params: { pad: 'x'.repeat(agent.config.bodyLimitBytes) } }, headers }))?.status, 413, 'over the body limit')
  t.equal((await call.mcpPost?.({ params, body: TOOLS_LIST, headers: { ...headers, origin: 'http://evil.example' } }))?.status, 403, 'a foreign Origin')
  t.equal((await call.mcpPost?.({ params: { name: plain }, body: INITIALIZE }))?.status, 502, 'an http server that answers what is not MCP')

  const stream = await call.mcpStream?.({ params, headers })
  t.equal(stream?.status, 200, 'the session stream')
  t.equal((await call.mcpStream?.({ params, headers }))?.status, 409, 'a second stream of the session')
  await stream?.response?.body?.cancel()
  t.equal((await call.mcpStream?.({ params }))?.status, 400, 'stream without a session header')
  t.equal((await call.mcpStream?.({ params, headers: { 'mcp-session-id': randomUUID() } }))?.status, 404, 'stream of an unknown session')
  t.equal((await call.mcpStream?.({ params, headers: { ...headers, accept: 'application/json' } }))?.status, 406, 'stream without Accept text/event-stream')
  t.equal((await call.mcpStream?.({ params: { name: notMcp }, headers }))?.status, 409, 'stream of what is not an MCP server')
  t.equal((await call.mcpStream?.({ params: { name: plain } }))?.status, 502, 'stream of an http server that answers HTML')

  t.equal((await call.mcpEnd?.({ params }))?.status, 400, 'end without a session header')
  t.equal((await call.mcpEnd?.({ params, headers: { 'mcp-session-id': randomUUID() } }))?.status, 404, 'end of an unknown session')
  t.equal((await call.mcpEnd?.({ params: { name: notMcp }, headers }))?.status, 409, 'end on what is not an MCP server')
  t.equal((await call.mcpEnd?.({ params: { name: plain }, headers }))?.status, 502, 'end on an http server that refuses DELETE')
  t.equal((await call.mcpEnd?.({ params, headers }))?.status, 200, 'end the session')
  t.equal((await call.mcpPost?.({ params, body: TOOLS_LIST, headers }))?.status, 404, 'the ended session is gone')

  t.equal((await call.toolCapabilities?.({ params }))?.status, 200)
  t.equal((await call.toolCapabilities?.({ params: { name: 'bad\u0001name' } }))?.status, 400)
  t.equal((await call.toolCapabilities?.({ params: { name: uniqueName('Nobody') } }))?.status, 404)
  t.equal((await call.toolCapabilities?.({ params: { name: notMcp } }))?.status, 409)
  t.equal((await call.protectedResource?.())?.status, 404, 'no authorization server is set: no protected resource metadata')
  t.equal((await call.toolDrift?.({ params }))?.status, 200, 'the drift lock of a listed server')
  t.equal((await call.toolDrift?.({ params: { name: 'bad\u0001name' } }))?.status, 400)
  t.equal((await call.toolDrift?.({ params: { name: uniqueName('Nobody') } }))?.status, 404)
  t.equal((await call.toolDrift?.({ params: { name: notMcp } }))?.status, 409)
  t.equal((await call.approveTools?.({ params, body: { all: true } }))?.status, 200, 'approve all: nothing was withheld')
  t.equal((await call.approveTools?.({ params, body: { tools: ['no-such-tool'] } }))?.status, 400, 'approve a tool the server does not list')
  t.equal((await call.approveTools?.({ params: { name: uniqueName('Nobody') }, body: { all: true } }))?.status, 404)
  t.equal((await call.approveTools?.({ params: { name: notMcp }, body: { all: true } }))?.status, 409)

  // A stopped MCP server cannot be reached: 503 on every MCP route.
  t.equal((await call.stopTool?.({ params }))?.status, 200)
  t.equal((await call.mcpPost?.({ params, body: INITIALIZE }))?.status, 503, 'post to a stopped server')
  t.equal((await call.mcpStream?.({ params, headers }))?.status, 503, 'stream of a stopped server')
  t.equal((await call.mcpEnd?.({ params, headers }))?.status, 503, 'end on a stopped server')

  // The tools server in its strict http mode has no stream to offer: its 405 passes as it said it.
  const strictBody = mcpDeployBody(strict, MCP_IMAGES.toolsV1, 'http', { mcpPort: 3000, environmentVariables: { TOOLS_HTTP_PORT: '3000' } })
  t.equal((await deploy(strictBody)).status, 201)
  // (503 while the server starts: the wait for it is short here.)
  let last: unknown
  const noStream = await waitFor(async () => {
    const answer = await call.mcpStream?.({ params: { name: strict } })
    last = [answer?.status, await answer?.response?.text()]
    return answer?.status === 405 ? 405 : undefined
  })
  t.equal(noStream, 405, `stream of an http server that has none (last: ${JSON.stringify(last)})`)
}
