// What a server offers, listed through the SDK client: tools always,
// resources and prompts when its initialize answer announced them, every
// page (bounded, against a server that pages without end; allPages: the aggregated endpoint lists with it too).
import type { Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js'

const MAX_PAGES = 50

export type Listed = Array<Record<string, unknown>>

export interface Offer {
  tools: Listed
  resources: Listed | null
  prompts: Listed | null
}

export async function allPages(list: (cursor: string | undefined) => Promise<{ items: Listed; nextCursor?: string | undefined }>): Promise<Listed> {
  const items: Listed = []
  let cursor: string | undefined
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await list(cursor)
    items.push(...result.items)
    cursor = result.nextCursor
    if (cursor === undefined) break
  }
  return items
}

export async function listOffer(client: Client, options: RequestOptions): Promise<Offer> {
  const capabilities = client.getServerCapabilities() ?? {}
  const params = (cursor: string | undefined) => (cursor === undefined ? {} : { cursor })
  const [tools, resources, prompts] = await Promise.all([
    capabilities.tools === undefined ? [] : allPages(async (cursor) => {
      const { tools, nextCursor } = await client.listTools(params(cursor), options)
      return { items: tools as Listed, nextCursor }
    }),
    capabilities.resources === undefined ? null : allPages(async (cursor) => {
      const { resources, nextCursor } = await client.listResources(params(cursor), options)
      return { items: resources as Listed, nextCursor }
    }),
    capabilities.prompts === undefined ? null : allPages(async (cursor) => {
      const { prompts, nextCursor } = await client.listPrompts(params(cursor), options)
      return { items: prompts as Listed, nextCursor }
    })
  ])
  return { tools, resources, prompts }
}
