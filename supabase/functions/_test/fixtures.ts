// One test world: a Supabase stand-in with a user who owns a toolbox, a
// second user, a catalog tool, and the service-role client the functions use.
import type { SupabaseClient } from '@supabase/supabase-js'
import type { Database } from '../_shared/database.ts'
import { createServiceClient } from '../_shared/env.ts'
import { SupabaseStandIn } from './supabase-stand-in.ts'

export interface World {
  standIn: SupabaseStandIn
  db: SupabaseClient<Database>
  userJwt: string
  otherUserJwt: string
  toolboxId: string
  catalogId: string
  close(): Promise<void>
}

export const SERVICE_ROLE_KEY = 'service-role-key-for-tests'

export function createWorld(toolboxIp = '127.0.0.1'): World {
  const userJwt = `user-jwt-${crypto.randomUUID()}`
  const otherUserJwt = `other-jwt-${crypto.randomUUID()}`
  const userId = crypto.randomUUID()
  const standIn = new SupabaseStandIn({ serviceRoleKey: SERVICE_ROLE_KEY, users: { [userJwt]: userId, [otherUserJwt]: crypto.randomUUID() } }).start()
  const toolbox = standIn.seed('account_tool_environments', { user_id: userId, public_ip_address: toolboxIp, status: 'active' })
  const catalog = standIn.seed('tool_catalog', {
    name: 'Context7 MCP Server',
    docker_image_url: 'dtma-test/busybox:v1',
    package_identifier: '@upstash/context7-mcp'
  })
  return {
    standIn,
    db: createServiceClient(standIn.url, SERVICE_ROLE_KEY),
    userJwt,
    otherUserJwt,
    toolboxId: String(toolbox.id),
    catalogId: String(catalog.id),
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
