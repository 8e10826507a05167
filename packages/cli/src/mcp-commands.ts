// `dtma mcp NAME tools|call`: an instance's MCP server through the agent's
// /tools/{name}/mcp, spoken to with the official SDK client over Streamable
// HTTP and the bearer token, as any MCP client would. The agent's refusals
// (its error body) become the agent's sentence; a tool's own error is one too.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { DtmaClientError } from '@dtma/contract'
import type { Invocation } from './args.ts'
import type { Io } from './commands.ts'
import { RefusedError } from './errors.ts'
import { table } from './render.ts'

const DEFAULT_TIMEOUT_MS = 60_000

/** The agent's sentence out of what the SDK says it answered. */
function translated(error: unknown, url: string): Error {
  if (error instanceof StreamableHTTPError) {
    const sentence = /"error":"((?:[^"\\]|\\.)*)"/.exec(error.message)?.[1]
    return new RefusedError(sentence === undefined ? error.message : (JSON.parse(`"${sentence}"`) as string), error.code ?? 0, error.message)
  }
  if (error instanceof McpError) return new RefusedError(error.message, 200, { code: error.code, message: error.message })
  if (error instanceof TypeError) return new DtmaClientError('network', `DTMA unreachable at ${url}: ${error.message}`, { cause: error })
  return error as Error
}

function describe(description: unknown): string {
  const first = typeof description === 'string' ? (description.split('\n')[0] ?? '') : ''
  return first.length > 80 ? `${first.slice(0, 79)}…` : first
}

export async function mcpCommand(invocation: Invocation, io: Io): Promise<void> {
  const name = invocation.target as string
  const { action, tool, args } = invocation.mcp
  const url = new URL(`/tools/${encodeURIComponent(name)}/mcp`, invocation.url)
  const headers: Record<string, string> = invocation.token === undefined ? {} : { authorization: `Bearer ${invocation.token}` }
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } })
  const client = new Client({ name: 'dtma-cli', version: '0.1.0' })
  const options = { timeout: invocation.timeoutMs ?? DEFAULT_TIMEOUT_MS, signal: io.interrupt }
  try {
    await client.connect(transport, options)
    if (action === 'tools') {
      const tools = []
      let cursor: string | undefined
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor }, options)
        tools.push(...page.tools)
        cursor = page.nextCursor
      } while (cursor !== undefined)
      if (invocation.json) return io.stdout(JSON.stringify({ tools }, null, 2) + '\n')
      return io.stdout(tools.length === 0 ? 'no tools\n' : table(['TOOL', 'DESCRIPTION'], tools.map((item) => [item.name, describe(item.description)])))
    }
    const result = await client.callTool({ name: tool as string, arguments: args }, undefined, options)
    if (invocation.json) io.stdout(JSON.stringify(result, null, 2) + '\n')
    const content = (result.content ?? []) as Array<{ type: string; text?: string }>
    const text = content.map((item) => (item.type === 'text' ? (item.text ?? '') : JSON.stringify(item))).join('\n')
    if (result.isError === true) throw new RefusedError(`tool '${tool}' failed: ${text}`, 200, result)
    if (!invocation.json) io.stdout(text.endsWith('\n') || text === '' ? text : `${text}\n`)
  } catch (error) {
    throw translated(error, invocation.url)
  } finally {
    await transport.terminateSession().catch(() => undefined)
    await client.close().catch(() => undefined)
  }
}
