// Whether a checked credential may call a route: the route table names the
// scopes of which it must hold one. The fleet key holds tools:read and
// tools:write only; a route it may not call says so and names the way out.
import type { Scope } from '@dtma/contract'
import type { Grant } from './grant.ts'
import { CredentialRefusal } from './refusal.ts'

/** What the fleet key may do while DTMA_ACCEPT_FLEET_KEY is on: what the deployed backend does. */
export const FLEET_KEY_SCOPES: ReadonlySet<Scope> = new Set<Scope>(['tools:read', 'tools:write'])

export function holdsScope(grant: Grant, scopes: readonly Scope[]): boolean {
  return scopes.some((scope) => grant.scopes.has(scope))
}

/** undefined when the grant opens the route; the 403 otherwise. */
export function routeRefusal(grant: Grant, scopes: readonly Scope[]): CredentialRefusal | undefined {
  if (holdsScope(grant, scopes)) return undefined
  const needed = scopes.join(' or ')
  if (grant.source === 'fleet-key') {
    return new CredentialRefusal(
      'forbidden',
      `Forbidden: the fleet key (BACKEND_TO_DTMA_API_KEY) may not call this route: it needs ${needed}; use a token signed with this toolbox's secret (e.g. \`dtma token --scope ${scopes[0]}\` on the toolbox)`
    )
  }
  return new CredentialRefusal('forbidden', `Forbidden: missing scope: this route needs ${needed}; the token holds ${[...grant.scopes].join(' ')}`)
}

export function instanceRefusal(): CredentialRefusal {
  return new CredentialRefusal('forbidden', 'Forbidden: instance not granted: the token names other instances (instances claim)')
}
