// Clients of the toolbox's aggregated endpoint (/mcp) as callers run them:
// the official SDK v1 client (2025-11-25, a session), and the SDK v2 client
// with version negotiation ('auto': server/discover first, 2026-07-28 when
// the server speaks it), each with a bearer token.
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { TOKEN } from './agent.ts'

/** What both SDKs' clients offer of resources and prompts, as the tests read it. */
export interface Browse {
  listResources(): Promise<{ resources: Array<{ uri: string; name: string }> }>
  readResource(params: { uri: string }): Promise<{ contents: Array<{ uri: string }> }>
  listResourceTemplates(): Promise<{ resourceTemplates: Array<{ name: string; uriTemplate: string }> }>
  listPrompts(): Promise<{ prompts: Array<{ name: string; arguments?: Array<{ required?: boolean }> }> }>
  getPrompt(params: { name: string; arguments?: Record<string, string> }): Promise<{ messages: unknown[] }>
}

export interface GatewayClient {
  era: string
  browse: Browse
  listTools(): Promise<Array<{ name: string; description?: string }>>
  callTool(name: string, args: Record<string, unknown>): Promise<unknown>
  close(): Promise<void>
}

export function gatewayUrl(baseUrl: string): URL {
  return new URL(`${baseUrl}/mcp`)
}

/** The SDK v1 client, a 2025 session of /mcp; onToolsChanged: its list_changed notifications. */
export async function gatewayClientV1(baseUrl: string, options: { token?: string; onToolsChanged?: () => void } = {}): Promise<GatewayClient> {
  const client = new Client({ name: 'dtma-test-v1', version: '1.0.0' })
  if (options.onToolsChanged !== undefined) client.setNotificationHandler(ToolListChangedNotificationSchema, options.onToolsChanged)
  const transport = new StreamableHTTPClientTransport(gatewayUrl(baseUrl), { requestInit: { headers: { authorization: `Bearer ${options.token ?? TOKEN}` } } })
  await client.connect(transport)
  return {
    era: `v1 ${transport.protocolVersion ?? '?'}`,
    browse: client as unknown as Browse,
    listTools: async () => (await client.listTools()).tools,
    callTool: (name, args) => client.callTool({ name, arguments: args }),
    close: async () => {
      await transport.terminateSession().catch(() => undefined)
      await client.close()
    }
  }
}

/** The SDK v2 client with version negotiation; onToolsChanged: its list_changed (on 2026-07-28, over the subscriptions/listen stream it opens). */
export async function gatewayClientV2(baseUrl: string, options: { token?: string; onToolsChanged?: () => void } = {}): Promise<GatewayClient> {
  const onToolsChanged = options.onToolsChanged
  const listChanged = onToolsChanged === undefined ? {} : { listChanged: { tools: { onChanged: () => onToolsChanged() } } }
  const client = new ClientV2({ name: 'dtma-test-v2', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' }, ...listChanged })
  const transport = new TransportV2(gatewayUrl(baseUrl), { requestInit: { headers: { authorization: `Bearer ${options.token ?? TOKEN}` } } })
  await client.connect(transport)
  return {
    era: `v2 ${client.getProtocolEra() ?? '?'} ${client.getNegotiatedProtocolVersion() ?? '?'}`,
    browse: client as unknown as Browse,
    listTools: async () => (await client.listTools()).tools,
    callTool: (name, args) => client.callTool({ name, arguments: args }),
    close: () => client.close()
  }
}
