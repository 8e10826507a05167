// The Authorization header of a request -> a Grant, or a CredentialRefusal.
// In order: the header's form (Bearer <credential>), the fleet key (while it
// is accepted: tools:read and tools:write), this toolbox's own secret (a
// signing key, refused as a bearer with a sentence that says to sign), then
// the token itself (token-verifier).
import type { Grant } from './grant.ts'
import { FleetKeyUses, SecretDigests } from './fleet-key.ts'
import { CredentialRefusal } from './refusal.ts'
import { FLEET_KEY_SCOPES } from './route-access.ts'
import { TokenVerifier, type VerifierSettings } from './token-verifier.ts'

export interface CredentialSettings extends VerifierSettings {
  /** BACKEND_TO_DTMA_API_KEY in clear, and SHA-256 (hex) digests of it (an enrolled toolbox holds only those). */
  fleetKey?: string
  fleetKeyHashes: readonly string[]
  acceptFleetKey: boolean
}

/** A longer header is no credential of ours (a token with a thousand instances fits well below). */
const MAX_HEADER_LENGTH = 64 * 1024
const BEARER = /^Bearer +([^\s]+) *$/i

export class CredentialCheck {
  private readonly verifier: TokenVerifier
  private readonly fleetKey: SecretDigests
  private readonly ownSecret: SecretDigests
  readonly fleetKeyUses = new FleetKeyUses()

  constructor(private readonly settings: CredentialSettings) {
    this.verifier = new TokenVerifier(settings)
    this.fleetKey = new SecretDigests([settings.fleetKey], settings.fleetKeyHashes)
    this.ownSecret = new SecretDigests([settings.secret])
  }

  /** The credential of an Authorization header, or undefined when it carries none in the Bearer form. */
  static bearerOf(authorization: string | undefined): string | undefined {
    if (authorization === undefined || authorization.length > MAX_HEADER_LENGTH) return undefined
    return BEARER.exec(authorization)?.[1]
  }

  /**
   * The grant of a toolbox token this check verified already (and not expired
   * since), without hashing the credential against the known secrets: a
   * remembered token was neither the fleet key nor the toolbox's secret when
   * it was verified, and they do not change while the agent runs. A caller
   * sends the same token with every MCP call. undefined: check() it.
   */
  remembered(authorization: string | undefined): Grant | undefined {
    const credential = CredentialCheck.bearerOf(authorization)
    return credential === undefined ? undefined : this.verifier.remembered(credential)
  }

  async check(authorization: string | undefined): Promise<Grant> {
    const credential = CredentialCheck.bearerOf(authorization)
    if (credential === undefined) {
      // The sentence the deployed callers know, as the earlier agent said it.
      throw new CredentialRefusal('unauthorized', 'Unauthorized: Missing or invalid token format')
    }
    const known = this.verifier.remembered(credential)
    if (known !== undefined) return known
    if (!this.fleetKey.empty && this.fleetKey.matches(credential)) {
      if (!this.settings.acceptFleetKey) {
        throw new CredentialRefusal('forbidden', 'Forbidden: the fleet key (BACKEND_TO_DTMA_API_KEY) is no longer accepted on this toolbox (DTMA_ACCEPT_FLEET_KEY is off): use a token signed with its secret')
      }
      return { source: 'fleet-key', scopes: FLEET_KEY_SCOPES }
    }
    if (!this.ownSecret.empty && this.ownSecret.matches(credential)) {
      throw new CredentialRefusal('forbidden', "Forbidden: this is the toolbox's secret, a signing key, not a bearer token: sign a token with it (e.g. `dtma token --scope tools:read` on the toolbox)")
    }
    return this.verifier.verify(credential)
  }
}
