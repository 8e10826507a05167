// What an AI agent needs to call one MCP server on a toolbox, and nothing
// else: the instance's MCP endpoint over HTTPS on the toolbox's agent, and a
// token of scope `mcp` for that instance alone (and, when the caller names
// them, those tools alone), signed with the toolbox's secret, for an hour by
// default (DTMA_MCP_TOKEN_LIFETIME_S, at most a day). What the frontend shows
// next to a server instead of http://<ip>:<port>/mcp. Only the user who owns
// the toolbox gets it (the handler checked that before), and only for an
// instance that is a row of that toolbox.
import { buildPath, routes, Scope, signToolboxToken, TOKEN_MAX_LIFETIME_S, toolboxAudience } from '../../../packages/contract/src/index.ts'
import { FunctionErrorCode, HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'
import { loadInstance } from './instances.ts'

/** What the token lasts unless the setting or the request says less. */
export const DEFAULT_MCP_TOKEN_LIFETIME_S = 3600

export interface McpAccessRequest {
  instanceId: string
  /** The tool names the holder may list and call; all of the server's when absent. */
  tools?: string[]
  /** Shorter than the setting, if the caller wants. */
  lifetimeSeconds?: number
}

export interface McpAccess {
  url: string
  token: string
  expires_at: string
  /** The certificate the endpoint serves: a client may pin it. */
  tls_fingerprint_sha256: string
}

export async function mcpAccess(ctx: ToolboxContext, asked: McpAccessRequest, userId: string, now: Date): Promise<McpAccess> {
  const row = await loadInstance(ctx.db, ctx.toolbox.id, asked.instanceId)
  const { public_ip_address: ip, dtma_bearer_token: secret, dtma_tls_certificate_pem: pem, dtma_tls_fingerprint_sha256: fingerprint } = ctx.toolbox
  if (!ip) throw new HttpError(409, FunctionErrorCode.toolboxNotReady, `Toolbox '${ctx.toolbox.id}' has no IP address yet`)
  if (!secret || !pem || !fingerprint) {
    throw new HttpError(
      409,
      FunctionErrorCode.toolboxNotReady,
      `Toolbox '${ctx.toolbox.id}' has not reported a TLS certificate yet (an agent of an earlier build, or no heartbeat since it started): its MCP endpoint cannot take tokens`
    )
  }
  const settingS = Math.min(ctx.mcpTokenLifetimeS, TOKEN_MAX_LIFETIME_S.mcp)
  const lifetimeS = Math.min(asked.lifetimeSeconds ?? settingS, settingS)
  const token = await signToolboxToken(secret, {
    audience: toolboxAudience(ctx.toolbox.id),
    scopes: [Scope.mcp],
    lifetimeSeconds: lifetimeS,
    instances: [row.id],
    ...(asked.tools !== undefined && { tools: { [row.id]: asked.tools } }),
    subject: userId,
    now: now.getTime()
  })
  const host = ip.includes(':') ? `[${ip}]` : ip
  const path = buildPath(routes.mcpPost.path, { name: row.instance_name_on_toolbox })
  return {
    url: `https://${host}:${ctx.agentPort}${path}`,
    token,
    expires_at: new Date((Math.floor(now.getTime() / 1000) + lifetimeS) * 1000).toISOString(),
    tls_fingerprint_sha256: fingerprint
  }
}
