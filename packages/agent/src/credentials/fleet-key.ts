// Known secrets by digest, compared in constant time whatever their length:
// the fleet key (BACKEND_TO_DTMA_API_KEY, or only its SHA-256 on an enrolled
// toolbox) and this toolbox's own secret, which is a signing key and never a
// bearer. And the fleet key's uses, counted, so that an operator sees when the
// backend no longer calls with it: one log line a minute at most (the count,
// never the key).
import { createHash, timingSafeEqual } from 'node:crypto'

export class SecretDigests {
  private readonly digests: Buffer[]

  /** Secrets in clear and SHA-256 (hex) digests of more. */
  constructor(secrets: readonly (string | undefined)[], hexDigests: readonly string[] = []) {
    this.digests = [...secrets.filter((secret): secret is string => secret !== undefined).map(sha256), ...hexDigests.map((hex) => Buffer.from(hex, 'hex'))]
  }

  get empty(): boolean {
    return this.digests.length === 0
  }

  matches(presented: string): boolean {
    const digest = sha256(presented)
    let found = false
    for (const known of this.digests) found = (known.length === digest.length && timingSafeEqual(known, digest)) || found
    return found
  }
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

/** Uses of the fleet key since the last log line; `due` once a minute has passed since it. */
export class FleetKeyUses {
  private sinceLog = 0
  private lastLogAt: number | undefined

  constructor(
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now
  ) {}

  /** Records one use; the count to log when a line is due (the first use, then at most once an interval). */
  record(): number | undefined {
    this.sinceLog += 1
    const now = this.now()
    if (this.lastLogAt !== undefined && now - this.lastLogAt < this.intervalMs) return undefined
    const count = this.sinceLog
    this.sinceLog = 0
    this.lastLogAt = now
    return count
  }
}
