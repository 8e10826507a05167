// Real MCP servers for DTMA's tests: the local images of test-images/mcp
// (built FROM scratch, cached; npm test builds them first, a single test file
// builds them when missing), deploy bodies with Agentopia's MCP override keys,
// and the official SDK client speaking to an instance through the agent.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { docker, TOKEN } from './agent.ts'

export const MCP_IMAGES = {
  everythingStdio: 'dtma-test/mcp-everything:stdio',
  everythingHttp: 'dtma-test/mcp-everything:http',
  everythingSse: 'dtma-test/mcp-everything:sse',
  toolsV1: 'dtma-test/mcp-tools:v1',
  toolsV2: 'dtma-test/mcp-tools:v2',
  flood: 'dtma-test/mcp-hostile:flood',
  garbage: 'dtma-test/mcp-hostile:garbage',
  silent: 'dtma-test/mcp-hostile:silent',
  chatty: 'dtma-test/mcp-hostile:chatty'
} as const

const buildScript = fileURLToPath(new URL('../../../../test-images/mcp/build.sh', import.meta.url))
let built: Promise<unknown> | undefined

/** Builds the MCP test images unless they are up to date (a second or two when they are). */
export function ensureMcpImages(): Promise<unknown> {
  built ??= promisify(execFile)('bash', [buildScript], { maxBuffer: 16 * 1024 * 1024 })
  return built
}

export type McpTransportName = 'stdio' | 'http' | 'sse'

/** A deploy as Agentopia's MCP services send it: service-shaped override with the mcp* keys. */
export function mcpDeployBody(name: string, image: string, transport: McpTransportName, extra: Record<string, unknown> = {}) {
  const port = transport === 'stdio' ? {} : { mcpPort: 3001, mcpEndpoint: transport === 'sse' ? '/sse' : '/mcp' }
  return {
    dockerImageUrl: image,
    instanceNameOnToolbox: name,
    accountToolInstanceId: `ati-${randomBytes(8).toString('hex')}`,
    baseConfigOverrideJson: {
      dockerImage: image,
      environmentVariables: { API_KEY: 'mcp-test-secret-value' },
      mcpTransport: transport,
      mcpEndpoint: '/mcp',
      mcpCapabilities: ['tools'],
      ...port,
      ...extra
    }
  }
}

export function mcpUrl(baseUrl: string, name: string): URL {
  return new URL(`${baseUrl}/tools/${encodeURIComponent(name)}/mcp`)
}

/** The SDK client, connected (initialize done) to an instance through the
 *  agent; its close() ends the session (DELETE) as a polite client does. */
export async function mcpClient(baseUrl: string, name: string, options: { token?: string; clientName?: string; client?: Client } = {}): Promise<Client> {
  const client = options.client ?? new Client({ name: options.clientName ?? 'dtma-test', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(mcpUrl(baseUrl, name), { requestInit: { headers: { authorization: `Bearer ${options.token ?? TOKEN}` } } })
  await client.connect(transport)
  const close = client.close.bind(client)
  client.close = async () => {
    await transport.terminateSession().catch(() => undefined)
    await close()
  }
  return client
}

/** The text of a tools/call result's first content item. */
export function textOf(result: unknown): string | undefined {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content
  return content?.find((item) => item.type === 'text')?.text
}

/** Runs a shell script inside a running container (as a crash or an operator would act there) and waits for it to end. */
export async function execIn(containerId: string, script: string): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true })
  const stream = await exec.start({})
  await new Promise((resolve) => stream.on('end', resolve).resume())
}
