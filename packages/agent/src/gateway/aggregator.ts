// The aggregated endpoint's work for one caller: which servers it sees (the
// ready ones of the instances its grant names), what they offer it together
// (a server that does not answer within the timeout is left out, not an
// error), and where each call, read and prompt goes. A name the caller does
// not see is refused as the per-instance endpoint refuses a tool not granted.
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import type { McpAccess, McpApi, McpServerEntry } from '../mcp/mcp-api.ts'
import { refusalOf } from '../mcp/tool-grant.ts'
import { catalogOf, findNamed, type Catalog, type Offered } from './catalog.ts'
import type { GatewayCaller } from './gateway-api.ts'
import { parseGatewayUri, prefixOfName } from './names.ts'
import type { UpstreamPool } from './upstream-pool.ts'

/** A JSON-RPC error to answer with: code, message, data. */
export class GatewayRefusal extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown
  ) {
    super(message)
  }
}

const INVALID_PARAMS = -32602
const MAX_CATALOGS = 256

interface Visible {
  server: McpServerEntry
  access: McpAccess
}

type Params = Record<string, unknown> & { name?: unknown; uri?: unknown; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> }

/** The refusal of a tools/call the caller may not make (the per-instance endpoint's own sentence). */
function notGranted(name: unknown): GatewayRefusal {
  const refusal = refusalOf({ id: 0, params: { name } }) as { error: { code: number; message: string; data?: unknown } }
  return new GatewayRefusal(refusal.error.code, refusal.error.message, refusal.error.data)
}

/** An error of the server passes as it was written (the SDK client's McpError adds "MCP error <code>: "). */
function passed(error: unknown): never {
  if (error instanceof McpError) throw new GatewayRefusal(error.code, error.message.replace(/^MCP error -?\d+: /, ''), error.data)
  throw error
}

export class Aggregator {
  /** Each grant's last catalog and the offers it was made of: made again only when one of them is another. */
  private readonly catalogs = new Map<string, { offered: Offered[]; catalog: Catalog }>()

  constructor(
    private readonly mcp: Pick<McpApi, 'listServers'>,
    private readonly pool: UpstreamPool
  ) {}

  /** The servers the caller sees now. */
  visible(caller: GatewayCaller): Visible[] {
    const seen: Visible[] = []
    for (const server of this.mcp.listServers()) {
      const access = server.ready ? caller.accessTo(server.accountToolInstanceId) : undefined
      if (access !== undefined) seen.push({ server, access })
    }
    return seen
  }

  async catalog(caller: GatewayCaller): Promise<Catalog> {
    const offered = await Promise.all(
      this.visible(caller).map(({ server, access }) =>
        this.pool.offer(server, caller.binding, access).then(
          (offer): Offered => ({ server, offer }),
          () => undefined
        )
      )
    )
    const present = offered.filter((one) => one !== undefined)
    const last = this.catalogs.get(caller.binding)
    const same = last !== undefined && last.offered.length === present.length && last.offered.every((one, index) => one.offer === present[index]?.offer && one.server.prefix === present[index]?.server.prefix)
    if (same) return last.catalog
    const catalog = catalogOf(present)
    this.catalogs.delete(caller.binding)
    this.catalogs.set(caller.binding, { offered: present, catalog })
    // Bounded: the grants seen most recently.
    if (this.catalogs.size > MAX_CATALOGS) this.catalogs.delete(this.catalogs.keys().next().value as string)
    return catalog
  }

  async callTool(caller: GatewayCaller, params: Params): Promise<Record<string, unknown>> {
    const { one, name } = await this.named(caller, params.name, 'tools')
    if (one === undefined || name === undefined) throw caller.narrowed ? notGranted(params.name) : new GatewayRefusal(INVALID_PARAMS, `tool ${JSON.stringify(String(params.name).slice(0, 100))} is offered by no ready MCP server of this toolbox`)
    const client = await this.pool.client(one.server, caller.binding, one.access)
    return client.callTool({ ...params, name }, undefined, this.pool.requestOptions).catch(passed)
  }

  async getPrompt(caller: GatewayCaller, params: Params): Promise<Record<string, unknown>> {
    const { one, name } = await this.named(caller, params.name, 'prompts')
    if (one === undefined || name === undefined) throw new GatewayRefusal(INVALID_PARAMS, `prompt ${JSON.stringify(String(params.name).slice(0, 100))} is offered by no ready MCP server of this toolbox`)
    const client = await this.pool.client(one.server, caller.binding, one.access)
    return client.getPrompt({ ...params, name } as { name: string }, this.pool.requestOptions).catch(passed)
  }

  async readResource(caller: GatewayCaller, params: Params): Promise<Record<string, unknown>> {
    const uri = String(params.uri)
    const visible = this.visible(caller)
    const catalog = await this.catalog(caller)
    const route = catalog.resourceRoutes.get(uri) ?? catalog.templateRoutes.find(({ template }) => template.match(uri) !== null)
    const own = catalog.resourceRoutes.get(uri)?.uri ?? parseGatewayUri(uri)?.uri ?? uri
    const one = route === undefined ? undefined : visible.find(({ server }) => server.instanceName === route.server.instanceName)
    if (one === undefined) throw new GatewayRefusal(INVALID_PARAMS, `resource ${JSON.stringify(uri.slice(0, 200))} is offered by no ready MCP server of this toolbox`, { uri })
    const client = await this.pool.client(one.server, caller.binding, one.access)
    return client.readResource({ ...params, uri: own }, this.pool.requestOptions).catch(passed)
  }

  /** The server a tool or prompt name on /mcp belongs to, and the name its server gave it. */
  private async named(caller: GatewayCaller, asked: unknown, kind: 'tools' | 'prompts'): Promise<{ one?: Visible; name?: string }> {
    if (typeof asked !== 'string') return {}
    const prefix = prefixOfName(asked)
    const one = this.visible(caller).find(({ server }) => server.prefix === prefix)
    if (one === undefined) return {}
    const offer = await this.pool.offer(one.server, caller.binding, one.access).catch(() => undefined)
    const item = offer === undefined ? undefined : findNamed(offer[kind], one.server.prefix, asked)
    return { one, ...(item !== undefined && { name: String(item.name) }) }
  }
}
