// One test world: a Supabase stand-in (on a database of its own) with a user
// who owns a toolbox, a second user, a catalog tool, and the service-role
// client the functions use.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { Database } from '../_shared/database.ts'
import { createServiceClient } from '../_shared/env.ts'
import { SupabaseStandIn } from './supabase-stand-in.ts'

export interface World {
  standIn: SupabaseStandIn
  db: SupabaseClient<Database>
  userId: string
  userJwt: string
  otherUserJwt: string
  toolboxId: string
  catalogId: string
  /** The catalog entry Agentopia's MCP services deploy every MCP server as. */
  mcpCatalogId: string
  close(): Promise<void>
}

export const SERVICE_ROLE_KEY = 'service-role-key-for-tests'
/** adminMCPService and the MCP service deploy every MCP server as this catalog tool. */
export const MCP_CATALOG_ID = '00000000-0000-0000-0000-000000000001'
/** The publishable key Agentopia's frontend sends as apikey. */
export const ANON_KEY = 'anon-key-for-tests'

export async function createWorld(toolboxIp = '127.0.0.1'): Promise<World> {
  const userJwt = `user-jwt-${crypto.randomUUID()}`
  const otherUserJwt = `other-jwt-${crypto.randomUUID()}`
  const userId = crypto.randomUUID()
  const standIn = await new SupabaseStandIn({ serviceRoleKey: SERVICE_ROLE_KEY, anonKey: ANON_KEY, users: { [userJwt]: userId, [otherUserJwt]: crypto.randomUUID() } }).start()
  const toolbox = await standIn.seed('account_tool_environments', { user_id: userId, public_ip_address: toolboxIp, status: 'active' })
  const catalog = await standIn.seed('tool_catalog', {
    name: 'Context7 MCP Server',
    docker_image_url: 'dtma-test/busybox:v1',
    package_identifier: '@upstash/context7-mcp'
  })
  await standIn.seed('tool_catalog', { id: MCP_CATALOG_ID, name: 'Generic MCP Server', docker_image_url: 'default-mcp-server:latest', package_identifier: null })
  return {
    standIn,
    db: createServiceClient(standIn.url, SERVICE_ROLE_KEY),
    userId,
    userJwt,
    otherUserJwt,
    toolboxId: String(toolbox.id),
    catalogId: String(catalog.id),
    mcpCatalogId: MCP_CATALOG_ID,
    close: () => standIn.close()
  }
}

export function request(method: string, path: string, jwt: string | undefined, body?: unknown): Request {
  const headers: Record<string, string> = {}
  if (jwt !== undefined) headers.authorization = `Bearer ${jwt}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  return new Request(`http://functions.test/functions/v1${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {})
  })
}

/** An instance of its own catalog tool (one instance per catalog tool per toolbox), as the backend writes it. */
export async function seedInstance(world: World, toolboxId: string, name: string): Promise<string> {
  const catalog = await world.standIn.seed('tool_catalog', { name: `tool ${name}`, docker_image_url: 'dtma-test/busybox:v1' })
  return String(
    (await world.standIn.seed('account_tool_instances', {
      account_tool_environment_id: toolboxId,
      tool_catalog_id: catalog.id,
      instance_name_on_toolbox: name,
      status_on_toolbox: 'deploying',
      docker_image_url: 'dtma-test/busybox:v1'
    })).id
  )
}
