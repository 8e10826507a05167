// What a caller sees on /mcp, put together from what each of its servers
// offers it: every tool, resource, resource template and prompt under its
// name on /mcp (names.ts), and the way back from each to its server and the
// name the server gave it. Servers in the order of their prefixes, so a
// listing reads the same every time.
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js'
import type { Listed } from '../mcp/listing.ts'
import type { McpServerEntry } from '../mcp/mcp-api.ts'
import { gatewayName, gatewayUri } from './names.ts'
import type { ServerOffer } from './upstream-pool.ts'

export interface Offered {
  server: McpServerEntry
  offer: ServerOffer
}

export interface Catalog {
  tools: Listed
  resources: Listed
  templates: Listed
  prompts: Listed
  /** A resource URI on /mcp -> its server and the URI the server wrote. */
  resourceRoutes: Map<string, { server: McpServerEntry; uri: string }>
  /** Each server's templates, in order: a read of a URI no resource names goes to the first whose template matches. */
  templateRoutes: Array<{ server: McpServerEntry; template: UriTemplate }>
}

const nameOf = (item: Record<string, unknown>): string => (typeof item.name === 'string' ? item.name : '')

/** The server's item whose name on /mcp this is (tools and prompts). */
export function findNamed(items: Listed, prefix: string, name: string): Record<string, unknown> | undefined {
  return items.find((item) => gatewayName(prefix, nameOf(item)) === name)
}

export function catalogOf(offered: Offered[]): Catalog {
  const sorted = [...offered].sort((a, b) => (a.server.prefix < b.server.prefix ? -1 : a.server.prefix > b.server.prefix ? 1 : 0))
  const uriCount = new Map<string, number>()
  for (const { offer } of sorted) {
    for (const uri of new Set(offer.resources.map((resource) => String(resource.uri)))) uriCount.set(uri, (uriCount.get(uri) ?? 0) + 1)
  }
  const catalog: Catalog = { tools: [], resources: [], templates: [], prompts: [], resourceRoutes: new Map(), templateRoutes: [] }
  for (const { server, offer } of sorted) {
    const { prefix } = server
    const renamed = (item: Record<string, unknown>) => ({ ...item, name: gatewayName(prefix, nameOf(item)) })
    catalog.tools.push(...offer.tools.map(renamed))
    catalog.prompts.push(...offer.prompts.map(renamed))
    for (const resource of offer.resources) {
      const own = String(resource.uri)
      const uri = (uriCount.get(own) ?? 0) > 1 ? gatewayUri(prefix, own) : own
      catalog.resources.push({ ...renamed(resource), uri })
      catalog.resourceRoutes.set(uri, { server, uri: own })
    }
    for (const template of offer.templates) {
      catalog.templates.push(renamed(template))
      try {
        catalog.templateRoutes.push({ server, template: new UriTemplate(String(template.uriTemplate)) })
      } catch {
        // A template the SDK cannot read is listed, and reads of it are not routed.
      }
    }
  }
  return catalog
}
