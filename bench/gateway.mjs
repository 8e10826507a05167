#!/usr/bin/env node
// `npm run bench:gateway`: the aggregated endpoint's own cost, without
// Docker or HTTP: GatewayService (the built agent's) in front of N in-memory
// MCP servers of M tools each (the official SDK's McpServer over its
// InMemoryTransport, handed to the gateway as McpApi's session pipes), one
// SDK v2 client's requests as web Requests: tools/list (warm: the servers'
// listings kept) and tools/call, p50 and p99. Prints; writes nothing.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { GatewayService } from '../packages/agent/dist/gateway/gateway-service.js'

const SERVERS = Number(process.env.DTMA_BENCH_GATEWAY_SERVERS ?? 50)
const TOOLS = Number(process.env.DTMA_BENCH_GATEWAY_TOOLS ?? 20)
const REPS = Number(process.env.DTMA_BENCH_GATEWAY_REPS ?? 500)
const MODERN = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'bench', version: '1' } }

/** A session pipe (McpApi's shape) on a fresh in-memory server of TOOLS tools. */
function openPipe(index) {
  const server = new McpServer({ name: `bench-${index}`, version: '1.0.0' })
  for (let tool = 0; tool < TOOLS; tool++) {
    server.registerTool(`tool_${tool}`, { description: `tool ${tool} of server ${index}`, inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'ok' }] }))
  }
  const [client, serverSide] = InMemoryTransport.createLinkedPair()
  void server.connect(serverSide)
  const pipe = {
    send: (message) => void client.send(message),
    close: () => void client.close()
  }
  client.onmessage = (message) => pipe.onmessage?.(message)
  client.onclose = () => pipe.onclose?.()
  void client.start()
  return pipe
}

const servers = Array.from({ length: SERVERS }, (_, index) => ({ instanceName: `server ${index}`, accountToolInstanceId: `ati-${index}`, prefix: `server-${index}`, ready: true, revision: '1' }))
const mcp = {
  listServers: () => servers,
  onServersChange: () => () => undefined,
  endpoint: (name) => ({ kind: 'sessions', open: () => openPipe(Number(name.split(' ')[1])) })
}
const gateway = new GatewayService({ mcp, version: 'bench', timeoutMs: 10_000, maxSessions: 100, idleMs: 600_000 })
gateway.start()
const caller = { binding: 'bench', narrowed: false, accessTo: () => ({}) }

let id = 0
async function request(method, params = {}) {
  const body = { jsonrpc: '2.0', id: ++id, method, params: { ...params, _meta: MODERN } }
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(params.name && { 'mcp-name': params.name }) }
  const response = await gateway.handle(new Request('http://localhost/mcp', { method: 'POST', headers, body: JSON.stringify(body) }), caller, body)
  const text = await response.text()
  if (response.status !== 200) throw new Error(`${method}: ${response.status} ${text.slice(0, 300)}`)
  return text
}

async function timed(run) {
  const times = []
  for (let i = 0; i < REPS; i++) {
    const started = performance.now()
    await run()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(2)
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`
}

const cold = performance.now()
const listed = JSON.parse(await request('tools/list'))
console.log(`first tools/list (opens ${SERVERS} sessions, lists ${SERVERS * TOOLS} tools): ${(performance.now() - cold).toFixed(1)} ms, ${listed.result.tools.length} tools`)
console.log(`tools/list, ${SERVERS} servers of ${TOOLS} tools, warm: ${await timed(() => request('tools/list'))}`)
console.log(`tools/call through the gateway: ${await timed(() => request('tools/call', { name: 'server-7_tool_3', arguments: {} }))}`)
await gateway.close()
