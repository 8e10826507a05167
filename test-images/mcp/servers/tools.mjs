// A small real MCP server on the official SDK, speaking stdio: its tool set
// depends on the version argument, so an image v2 has one more tool than v1
// (DTMA's tests see the fingerprint change). `echo` answers exactly what it
// was sent, so concurrent sessions can check they got their own answers.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { z } from 'zod'

const version = process.argv[2] ?? 'v1'
const server = new McpServer({ name: 'dtma-test-tools', version: version === 'v2' ? '2.0.0' : '1.0.0' })
server.registerTool('echo', { description: 'Echoes the text back', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }))
server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }))
if (version === 'v2') {
  server.registerTool('multiply', { description: 'Multiplies two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a * b) }] }))
}
await server.connect(new StdioServerTransport())
