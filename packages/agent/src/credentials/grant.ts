// What a request's credential allows, once checked: the one shape every
// consumer reads (route scopes, the MCP side's instance and tool filter, the
// plain-HTTP gate), whatever proved it (a toolbox token, a token of the
// authorization server, the fleet key while it is accepted). A leaf.
import type { Scope } from '@dtma/contract'

export type GrantSource =
  /** HS256, signed with this toolbox's per-VM secret (our edge functions, `dtma token`). */
  | 'toolbox-token'
  /** Signed by the authorization server whose keys DTMA_JWKS_URL serves. */
  | 'jwks-token'
  /** BACKEND_TO_DTMA_API_KEY while DTMA_ACCEPT_FLEET_KEY is on: tools:read and tools:write only. */
  | 'fleet-key'

export interface Grant {
  source: GrantSource
  scopes: ReadonlySet<Scope>
  /** account_tool_instance_ids the caller may touch; undefined: every instance. */
  instances?: ReadonlySet<string>
  /** Per account_tool_instance_id, the tool names its MCP server shows and runs for this caller; an id not named: all. */
  tools?: ReadonlyMap<string, ReadonlySet<string>>
  /** Milliseconds since the epoch; undefined for the fleet key. */
  expiresAt?: number
  /** The token's sub (for logs of who called; never the token). */
  subject?: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on a bearer route once the credential is checked. */
    grant?: Grant
  }
}

export function grantsInstance(grant: Grant, accountToolInstanceId: string | undefined): boolean {
  if (grant.instances === undefined) return true
  return accountToolInstanceId !== undefined && grant.instances.has(accountToolInstanceId)
}

/** The tools of an instance this grant may list and call; undefined: all of them. */
export function grantedTools(grant: Grant, accountToolInstanceId: string): ReadonlySet<string> | undefined {
  return grant.tools?.get(accountToolInstanceId)
}
