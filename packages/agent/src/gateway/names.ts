// Names on the aggregated endpoint: `<prefix>_<name>` within
// ^[a-zA-Z0-9_-]{1,64}$. A prefix holds no `_` (model/mcp-prefix.ts), so the
// first `_` of a name ends it and names of two servers never collide; a
// server's name that is too long or has other characters is shortened and
// given a hash of itself, so two of one server stay apart. A resource keeps
// the URI its server wrote unless another server lists the same one: then
// each of them is named under its prefix.
import { createHash } from 'node:crypto'

const NAME_CHARS = /^[a-zA-Z0-9_-]+$/
const MAX_NAME = 64
const HASH = 8

export function gatewayName(prefix: string, name: string): string {
  const full = `${prefix}_${name}`
  if (full.length <= MAX_NAME && NAME_CHARS.test(name)) return full
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH)
  const kept = name.replace(/[^a-zA-Z0-9_-]+/g, '-').slice(0, MAX_NAME - prefix.length - 2 - HASH)
  return `${prefix}_${kept}_${hash}`
}

/** The prefix a name on /mcp names (undefined: none). */
export function prefixOfName(name: string): string | undefined {
  const end = name.indexOf('_')
  return end > 0 ? name.slice(0, end) : undefined
}

const URI_SCHEME = 'mcp+'

/** A URI two servers list, named under its server's prefix. */
export function gatewayUri(prefix: string, uri: string): string {
  return `${URI_SCHEME}${prefix}:${uri}`
}

/** The prefix and the server's own URI of a gatewayUri; undefined for any other URI. */
export function parseGatewayUri(uri: string): { prefix: string; uri: string } | undefined {
  if (!uri.startsWith(URI_SCHEME)) return undefined
  const colon = uri.indexOf(':', URI_SCHEME.length)
  return colon < 0 ? undefined : { prefix: uri.slice(URI_SCHEME.length, colon), uri: uri.slice(colon + 1) }
}
