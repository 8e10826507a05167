// The gateway's clients of the toolbox's servers: one SDK client per server
// and per grant (the same subject, instances and tools share one), each on
// the per-instance path, McpApi.endpoint(name, access), with that grant: a
// session of the multiplexer for a stdio or sse server, the proxy for an
// http one. So every call the gateway makes meets the grant, the drift lock
// and the audit as a call on /tools/{name}/mcp does. What a client listed is
// kept until its server says its list changed, or the server changes or
// goes (forget); an idle client is closed, and so is the least recently
// used one past the bound.
import { Readable } from 'node:stream'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js'
import { PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js'
import { allPages, type Listed } from '../mcp/listing.ts'
import type { McpAccess, McpEndpoint, McpApi, McpServerEntry } from '../mcp/mcp-api.ts'
import { PipeTransport } from '../mcp/pipe-transport.ts'

/** What one server offers one grant. */
export interface ServerOffer {
  tools: Listed
  resources: Listed
  templates: Listed
  prompts: Listed
}

export interface PoolOptions {
  version: string
  /** How long a server may take to answer initialize or a listing before it is left out. */
  timeoutMs: number
  idleMs: number
  /** Clients open at once (of all servers and grants); past it the least recently used is closed. */
  maxClients: number
  /** A server said one of its lists changed. */
  changed(instanceName: string): void
}

interface Upstream {
  instanceName: string
  client: Promise<Client>
  offer: Promise<ServerOffer> | undefined
  lastUsed: number
}

/** The web fetch of the SDK's client transport, answered by the proxy to an http server's own endpoint. */
function forwardFetch(endpoint: Extract<McpEndpoint, { kind: 'proxy' }>): typeof fetch {
  return async (_input, init) => {
    const headers: Record<string, string> = {}
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value
    })
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined
    const answer = await endpoint.forward({ method: init?.method ?? 'GET', headers, body, signal: init?.signal ?? new AbortController().signal })
    const empty = answer.status === 204 || answer.status === 205 || answer.status === 304
    if (empty) answer.body.resume()
    return new Response(empty ? null : (Readable.toWeb(answer.body) as ReadableStream<Uint8Array>), { status: answer.status, headers: answer.headers })
  }
}

export class UpstreamPool {
  private readonly upstreams = new Map<string, Upstream>()
  private readonly sweeper: NodeJS.Timeout

  constructor(
    private readonly mcp: Pick<McpApi, 'endpoint'>,
    private readonly options: PoolOptions
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(options.idleMs, 60_000))
    this.sweeper.unref()
  }

  get size(): number {
    return this.upstreams.size
  }

  /** The server's client for this grant, connected. */
  client(server: McpServerEntry, binding: string, access: McpAccess): Promise<Client> {
    return this.upstream(server, binding, access).client
  }

  /** What the server offers this grant (its last listing, or a new one). */
  offer(server: McpServerEntry, binding: string, access: McpAccess): Promise<ServerOffer> {
    const upstream = this.upstream(server, binding, access)
    upstream.offer ??= upstream.client.then((client) => listAll(client, { timeout: this.options.timeoutMs }))
    const offer = upstream.offer
    // A failed listing is not kept: the next one asks again.
    offer.catch(() => {
      if (upstream.offer === offer) upstream.offer = undefined
    })
    return offer
  }

  get requestOptions(): RequestOptions {
    return { timeout: this.options.timeoutMs }
  }

  /** The server changed or went: its clients are closed, the next caller connects again. */
  forget(instanceName: string): void {
    for (const [key, upstream] of this.upstreams) if (upstream.instanceName === instanceName) this.drop(key, upstream)
  }

  close(): void {
    clearInterval(this.sweeper)
    for (const [key, upstream] of this.upstreams) this.drop(key, upstream)
  }

  private upstream(server: McpServerEntry, binding: string, access: McpAccess): Upstream {
    const key = `${server.instanceName}\n${binding}`
    let upstream = this.upstreams.get(key)
    if (upstream === undefined) {
      const created: Upstream = { instanceName: server.instanceName, client: Promise.resolve(undefined as never), offer: undefined, lastUsed: Date.now() }
      created.client = this.connect(server.instanceName, access, key, created)
      created.client.catch(() => this.drop(key, created))
      upstream = created
    }
    // Most recently used last: the first is the one closed when there are too many.
    this.upstreams.delete(key)
    this.upstreams.set(key, upstream)
    upstream.lastUsed = Date.now()
    if (this.upstreams.size > this.options.maxClients) {
      const [oldestKey, oldest] = this.upstreams.entries().next().value as [string, Upstream]
      this.drop(oldestKey, oldest)
    }
    return upstream
  }

  private async connect(instanceName: string, access: McpAccess, key: string, upstream: Upstream): Promise<Client> {
    const endpoint = this.mcp.endpoint(instanceName, access)
    const transport =
      endpoint.kind === 'sessions' ? new PipeTransport(endpoint.open()) : new StreamableHTTPClientTransport(new URL('http://upstream.invalid/mcp'), { fetch: forwardFetch(endpoint) })
    const client = new Client({ name: 'dtma-gateway', version: this.options.version }, { capabilities: {} })
    const changed = () => {
      upstream.offer = undefined
      this.options.changed(instanceName)
    }
    client.setNotificationHandler(ToolListChangedNotificationSchema, changed)
    client.setNotificationHandler(ResourceListChangedNotificationSchema, changed)
    client.setNotificationHandler(PromptListChangedNotificationSchema, changed)
    client.onclose = () => this.drop(key, upstream)
    try {
      await client.connect(transport, { timeout: this.options.timeoutMs })
    } catch (error) {
      await client.close().catch(() => undefined)
      throw error
    }
    return client
  }

  private drop(key: string, upstream: Upstream): void {
    if (this.upstreams.get(key) !== upstream) return
    this.upstreams.delete(key)
    void upstream.client.then((client) => client.close()).catch(() => undefined)
  }

  private sweep(): void {
    const idleSince = Date.now() - this.options.idleMs
    for (const [key, upstream] of this.upstreams) if (upstream.lastUsed < idleSince) this.drop(key, upstream)
  }
}

async function listAll(client: Client, options: RequestOptions): Promise<ServerOffer> {
  const capabilities = client.getServerCapabilities() ?? {}
  const params = (cursor: string | undefined) => (cursor === undefined ? {} : { cursor })
  const none = async (): Promise<Listed> => []
  const [tools, resources, templates, prompts] = await Promise.all([
    capabilities.tools === undefined ? none() : allPages(async (cursor) => {
      const { tools, nextCursor } = await client.listTools(params(cursor), options)
      return { items: tools as Listed, nextCursor }
    }),
    capabilities.resources === undefined ? none() : allPages(async (cursor) => {
      const { resources, nextCursor } = await client.listResources(params(cursor), options)
      return { items: resources as Listed, nextCursor }
    }),
    capabilities.resources === undefined ? none() : allPages(async (cursor) => {
      const { resourceTemplates, nextCursor } = await client.listResourceTemplates(params(cursor), options)
      return { items: resourceTemplates as Listed, nextCursor }
    }),
    capabilities.prompts === undefined ? none() : allPages(async (cursor) => {
      const { prompts, nextCursor } = await client.listPrompts(params(cursor), options)
      return { items: prompts as Listed, nextCursor }
    })
  ])
  return { tools, resources, templates, prompts }
}
