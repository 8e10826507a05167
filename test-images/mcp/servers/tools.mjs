// A small real MCP server on the official SDK, speaking stdio: its tool set
// depends on the version argument, so an image v2 has one more tool than v1
// (DTMA's tests see the fingerprint change). `echo` answers exactly what it
// was sent, so concurrent sessions can check they got their own answers.
// Its environment can make it behave as servers people run do:
//   TOOLS_ERRORS=1     a prompt `fail` whose get is a JSON-RPC error with data
//   TOOLS_HTTP_PORT=N  Streamable HTTP on port N instead of stdio, a session
//                      per initialize, strict like Notion and Playwright: any
//                      Host but TOOLS_HOST (default localhost:N) is refused
//                      (403), GET is 405 (no stream here), DELETE is 200 with
//                      an empty chunked body and no content type
//   TOOLS_TOKEN=T      (http) every request must carry Authorization: Bearer T,
//                      or T itself in the header TOOLS_TOKEN_HEADER names
// Every http answer names, in Mcp-Seen, the MCP headers its request carried
// (Mcp-*, Last-Event-ID, and whether it had an Origin or a Cookie).
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'

const version = process.argv[2] ?? 'v1'

function toolsServer() {
  const server = new McpServer({ name: 'dtma-test-tools', version: version === 'v2' ? '2.0.0' : '1.0.0' })
  server.registerTool('echo', { description: 'Echoes the text back', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }))
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }))
  if (version === 'v2') {
    server.registerTool('multiply', { description: 'Multiplies two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a * b) }] }))
  }
  if (process.env.TOOLS_ERRORS === '1') {
    server.registerPrompt('fail', { description: 'Always fails with a JSON-RPC error that carries data' }, async () => {
      throw new McpError(-32042, 'the prompt failed on purpose', { reason: 'test', nested: { n: 1, list: ['a', 'ü'] } })
    })
  }
  return server
}

function refuse(response, status, code, message, headers = {}) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers })
  response.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }))
}

async function readJson(request) {
  let text = ''
  for await (const chunk of request) text += chunk
  return JSON.parse(text)
}

const port = Number(process.env.TOOLS_HTTP_PORT ?? 0)
if (port === 0) {
  await toolsServer().connect(new StdioServerTransport())
} else {
  const host = process.env.TOOLS_HOST ?? `localhost:${port}`
  const token = process.env.TOOLS_TOKEN
  const tokenHeader = process.env.TOOLS_TOKEN_HEADER?.toLowerCase()
  const expected = tokenHeader === undefined ? `Bearer ${token}` : token
  const sessions = new Map()
  createServer(async (request, response) => {
    const seen = Object.keys(request.headers).filter((name) => name.startsWith('mcp-') || ['last-event-id', 'origin', 'cookie'].includes(name))
    response.setHeader('mcp-seen', seen.map((name) => (name === 'mcp-method' || name === 'mcp-name' ? `${name}=${request.headers[name]}` : name)).join(','))
    if (request.headers.host !== host) return refuse(response, 403, -32000, `Invalid Host header: ${request.headers.host}`)
    if (token !== undefined && request.headers[tokenHeader ?? 'authorization'] !== expected) {
      return refuse(response, 401, -32001, 'Unauthorized', { 'www-authenticate': 'Bearer realm="dtma-test-tools"' })
    }
    const id = request.headers['mcp-session-id']
    if (request.method === 'GET') return refuse(response, 405, -32000, 'Method not allowed.', { allow: 'POST, DELETE' })
    if (request.method === 'DELETE') {
      await sessions.get(id)?.close()
      sessions.delete(id)
      response.writeHead(200, { 'transfer-encoding': 'chunked' })
      return response.end()
    }
    if (request.method !== 'POST') return refuse(response, 405, -32000, 'Method not allowed.')
    let body
    try {
      body = await readJson(request)
    } catch {
      return refuse(response, 400, -32700, 'Parse error')
    }
    if (id !== undefined) {
      const transport = sessions.get(id)
      if (transport === undefined) return refuse(response, 404, -32001, 'Session not found')
      return transport.handleRequest(request, response, body)
    }
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => sessions.set(sid, transport) })
    transport.onclose = () => sessions.delete(transport.sessionId)
    await toolsServer().connect(transport)
    return transport.handleRequest(request, response, body)
  }).listen(port)
}
