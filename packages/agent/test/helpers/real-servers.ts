// Real MCP servers from npm in DTMA's test images (test-images/mcp/build.sh),
// and the two ways a client reaches one: directly (a stdio server run the way
// hosts run it, `docker run -i --rm`; an http server's own container with its
// port on 127.0.0.1) and through DTMA (deployed on a test agent with
// Agentopia's override keys, reached at /tools/{name}/mcp with the agent's
// bearer).
import { randomBytes } from 'node:crypto'
import { docker, freePort, TOKEN, type TestAgent, uniqueName } from './agent.ts'
import { mcpDeployBody, mcpUrl } from './mcp.ts'
import { waitFor } from './wait.ts'

export interface ToolCall {
  name: string
  arguments: Record<string, unknown>
}

export interface RealServer {
  server: string
  transport: 'stdio' | 'http'
  image: string
  /** Calls that answer offline the same way every time (a result, an error result or a JSON-RPC
   *  error): first one that answers, then one that errs (bad arguments, an unreachable upstream). */
  calls: ToolCall[]
  /** http: the variable naming the port the server listens on (and checks the Host header against). */
  portEnv?: string
  /** http: what a caller must send the server itself (Notion's own bearer). */
  serverHeaders?: Record<string, string>
  /** Override keys a deploy adds for this server (its own credential). */
  deployExtra?: Record<string, unknown>
}

/** Notion's http mode requires this bearer of its callers (test-images/mcp/build.sh gives it). */
const NOTION_AUTH = 'Bearer dtma-test-notion-token'
const HTTP_PORT = 3001

const context7Calls: ToolCall[] = [
  // The upstream API is a closed local port: "fetch failed", the same every time.
  { name: 'resolve-library-id', arguments: { query: 'react hooks', libraryName: 'react' } },
  { name: 'resolve-library-id', arguments: {} }
]
// Every Notion call goes to its API (a closed port): a JSON-RPC error of the server's own.
const notionCalls: ToolCall[] = [
  { name: 'API-get-self', arguments: {} },
  { name: 'API-retrieve-a-page', arguments: {} }
]
// No browser in the image: Playwright lists its tools; a call answers that the browser is missing.
const playwrightCalls: ToolCall[] = [
  { name: 'browser_close', arguments: {} },
  { name: 'browser_navigate', arguments: {} }
]

export const REAL_SERVERS = {
  context7Stdio: { server: 'context7', transport: 'stdio', image: 'dtma-test/mcp-context7:stdio', calls: context7Calls },
  context7Http: { server: 'context7', transport: 'http', image: 'dtma-test/mcp-context7:http', calls: context7Calls },
  notionStdio: { server: 'notion', transport: 'stdio', image: 'dtma-test/mcp-notion:stdio', calls: notionCalls },
  notionHttp: {
    server: 'notion',
    transport: 'http',
    image: 'dtma-test/mcp-notion:http',
    calls: notionCalls,
    serverHeaders: { Authorization: NOTION_AUTH },
    deployExtra: { mcpAuth: { header: 'Authorization', value: NOTION_AUTH } }
  },
  playwrightStdio: { server: 'playwright', transport: 'stdio', image: 'dtma-test/mcp-playwright:stdio', calls: playwrightCalls },
  playwrightHttp: { server: 'playwright', transport: 'http', image: 'dtma-test/mcp-playwright:http', calls: playwrightCalls, portEnv: 'PLAYWRIGHT_MCP_PORT' },
  memoryStdio: {
    server: 'memory',
    transport: 'stdio',
    image: 'dtma-test/mcp-memory:stdio',
    // Only reads: through DTMA every client shares the one server and its graph.
    calls: [
      { name: 'read_graph', arguments: {} },
      { name: 'search_nodes', arguments: {} }
    ]
  },
  everythingHttp: {
    server: 'everything',
    transport: 'http',
    image: 'dtma-test/mcp-everything:http',
    portEnv: 'PORT',
    calls: [
      { name: 'echo', arguments: { message: 'hello' } },
      { name: 'get-sum', arguments: { a: 'two', b: 40 } },
      { name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 2 } }
    ]
  }
} as const satisfies Record<string, RealServer>

/** How a client reaches a server: a command that speaks stdio, or a Streamable HTTP endpoint. */
export type Target = { kind: 'stdio'; command: string; args: string[] } | { kind: 'http'; url: string; headers: Record<string, string> }

/** Every container a fidelity run starts itself carries this label with the run's id. */
const RUN_LABEL = 'dtma.test.fidelity-run'

export interface TapLike {
  teardown(fn: () => unknown): void
}

/** Direct targets of one test file; its teardown removes the containers it started. */
export function directTargets(t: TapLike) {
  const run = randomBytes(6).toString('hex')
  t.teardown(async () => {
    const containers = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${run}`] } })
    await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
  })
  return {
    /** One `docker run -i --rm` per session, as a host runs a stdio server. */
    stdio(server: RealServer): Target {
      return { kind: 'stdio', command: 'docker', args: ['run', '-i', '--rm', '--label', `${RUN_LABEL}=${run}`, '-e', 'MCP_EXIT_WITH_SERVER=1', server.image] }
    },
    /** Starts the server's container with its port on 127.0.0.1 (the same port inside when the
     *  server checks Host against it) and waits until it answers HTTP. */
    async http(server: RealServer): Promise<Target> {
      const hostPort = await freePort()
      const containerPort = server.portEnv === undefined ? HTTP_PORT : hostPort
      const container = await docker.createContainer({
        Image: server.image,
        Labels: { [RUN_LABEL]: run },
        Env: server.portEnv === undefined ? [] : [`${server.portEnv}=${hostPort}`],
        ExposedPorts: { [`${containerPort}/tcp`]: {} },
        HostConfig: { AutoRemove: true, PortBindings: { [`${containerPort}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] } }
      })
      await container.start()
      const url = `http://127.0.0.1:${hostPort}/mcp`
      const up = await waitFor(() => fetch(url, { signal: AbortSignal.timeout(1000) }).then((response) => response.status, () => undefined), 30_000, 200)
      if (up === undefined) throw new Error(`${server.image} did not answer on ${url}`)
      return { kind: 'http', url, headers: server.serverHeaders ?? {} }
    }
  }
}

export type Deployed = { ok: true; target: Target } | { ok: false; reason: string }

/** Deploys the server on the agent with waitForMcp; its endpoint through DTMA, or why there is none. */
export async function deployThroughDtma(agent: TestAgent, server: RealServer): Promise<Deployed> {
  const name = uniqueName(`Fidelity ${server.server} ${server.transport}`)
  agent.deployBody(name)
  const body = { ...mcpDeployBody(name, server.image, server.transport, server.deployExtra ?? {}), waitForMcp: true }
  const deployed = await agent.client.deployTool({ body })
  if (deployed.status !== 201) {
    const { code } = deployed.body as { code?: string }
    return { ok: false, reason: `deploy answered ${deployed.status} ${code ?? ''}`.trim() }
  }
  return { ok: true, target: { kind: 'http', url: mcpUrl(agent.baseUrl, name).href, headers: { Authorization: `Bearer ${TOKEN}` } } }
}
