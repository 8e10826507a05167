// The prefix an MCP instance's tools, resources and prompts carry on the
// toolbox's aggregated endpoint (/mcp): `<prefix>_<name>`. Derived from the
// instance name (letters and digits kept, any run of anything else one `-`,
// at most MAX_PREFIX characters; never `_`, so the first `_` of a name on
// /mcp ends its prefix), with a short hash suffix only when another
// instance holds that prefix already. The store keeps each one, so it stays
// the same across restarts and deploys of others. A leaf.
import { createHash } from 'node:crypto'

export const MAX_PREFIX = 24
/** What a name on /mcp may be (what clients accept: no `:` or `.`). */
export const GATEWAY_NAME = /^[a-zA-Z0-9_-]{1,64}$/

/** The instance name made a valid prefix, shortened (never empty). */
export function basePrefix(instanceName: string): string {
  const sanitized = instanceName
    .replace(/[^a-zA-Z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_PREFIX)
    .replace(/-+$/, '')
  return sanitized === '' ? 'mcp' : sanitized
}

/** A prefix for the instance that none of `taken` is: the base one, or the base shortened with a hash of the name (and a counter, in the unlikely case). */
export function freePrefix(instanceName: string, taken: ReadonlySet<string>): string {
  const base = basePrefix(instanceName)
  if (!taken.has(base)) return base
  for (let attempt = 0; ; attempt++) {
    const hash = createHash('sha256').update(`${instanceName}\n${attempt}`).digest('hex').slice(0, 6)
    const candidate = `${base.slice(0, MAX_PREFIX - 7)}-${hash}`
    if (!taken.has(candidate)) return candidate
  }
}
