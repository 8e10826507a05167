// What a tool container may reach beyond the host (its egress), as a deploy
// asks it, and the allow entries of `{ allow: [...] }` parsed. A leaf: the
// domain validates a deploy's `egress` with it, the network policy
// (netpolicy/) builds its rules from it.
import { isIP } from 'node:net'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'

/** `internet`: the public internet only (the default); `none`: nothing;
 *  `{ allow }`: only the listed destinations (which may be private ranges). */
export type Egress = 'internet' | 'none' | { allow: string[] }

export type Family = 4 | 6

/** One allow entry: an address or CIDR (family known), or a host name the agent resolves. */
export type AllowTarget =
  | { kind: 'cidr'; family: Family; address: string; prefix: number; port: number }
  | { kind: 'host'; host: string; port: number }

export const MAX_ALLOW_ENTRIES = 64

/** Never reachable from a tool, whatever a policy says: cloud metadata lives there. */
export const LINK_LOCAL: Record<Family, { address: string; prefix: number }> = {
  4: { address: '169.254.0.0', prefix: 16 },
  6: { address: 'fe80::', prefix: 10 }
}

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/

/** An address as a bigint (IPv4 or IPv6, any spelling node:net accepts). */
export function addressBits(address: string, family: Family): bigint {
  if (family === 4) return address.split('.').reduce((sum, part) => (sum << 8n) + BigInt(Number(part)), 0n)
  const mapped = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  let text = address
  if (mapped) {
    const v4 = addressBits(mapped[2] as string, 4)
    text = `${mapped[1]}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head = '', tail] = text.split('::') as [string, string?]
  const headParts = head === '' ? [] : head.split(':')
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':')
  const parts = tail === undefined ? headParts : [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts]
  return parts.reduce((sum, part) => (sum << 16n) + BigInt(parseInt(part, 16)), 0n)
}

/** Whether the network address/prefix holds the address. */
export function cidrHolds(network: { address: string; prefix: number }, family: Family, address: string): boolean {
  const width = family === 4 ? 32n : 128n
  const shift = width - BigInt(network.prefix)
  return addressBits(network.address, family) >> shift === addressBits(address, family) >> shift
}

/** Whether two address/prefix ranges of one family overlap. */
export function cidrsOverlap(a: { address: string; prefix: number }, b: { address: string; prefix: number }, family: Family): boolean {
  const shorter = a.prefix <= b.prefix ? a : b
  const longer = shorter === a ? b : a
  return cidrHolds(shorter, family, longer.address)
}

class EntryError extends Error {}

function parsePort(text: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw new EntryError('the port must be 1-65535')
  return Number(text)
}

function parseTarget(hostPart: string, port: number, bracketed: boolean): AllowTarget {
  const [address = '', prefixText, extra] = hostPart.split('/')
  if (extra !== undefined) throw new EntryError('one / at most')
  const family = isIP(address)
  if (family === 0) {
    if (prefixText !== undefined || bracketed || !HOST_NAME.test(address) || /^[0-9.]+$/.test(address)) throw new EntryError('not an IPv4 or IPv6 address, a CIDR or a host name')
    return { kind: 'host', host: address.toLowerCase().replace(/\.$/, ''), port }
  }
  const width = family === 4 ? 32 : 128
  if (prefixText !== undefined && (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > width)) throw new EntryError(`the prefix length must be 0-${width}`)
  return { kind: 'cidr', family: family as Family, address, prefix: prefixText === undefined ? width : Number(prefixText), port }
}

/** "host:port", "1.2.3.4:port", "10.0.0.0/8:port", "[2001:db8::1]:port",
 *  "2001:db8::/64:port"; the reason when it is none of these. */
export function parseAllowEntry(entry: string): AllowTarget | { error: string } {
  try {
    const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(entry)
    if (bracketed) return parseTarget(bracketed[1] as string, parsePort(bracketed[2] as string), true)
    const colon = entry.lastIndexOf(':')
    if (colon <= 0) throw new EntryError('a port is required (host:port)')
    const hostPart = entry.slice(0, colon)
    if (hostPart.includes(':') && !hostPart.includes('/')) throw new EntryError('an IPv6 address followed by a port goes in brackets: [2001:db8::1]:443')
    return parseTarget(hostPart, parsePort(entry.slice(colon + 1)), false)
  } catch (error) {
    if (error instanceof EntryError) return { error: error.message }
    throw error
  }
}

/** Why a tool may never be allowed to reach this address or range, or undefined.
 *  hostAddresses: the host's own addresses (every interface). */
export function forbiddenTarget(target: { family: Family; address: string; prefix: number }, hostAddresses: readonly string[]): string | undefined {
  // An IPv4-mapped IPv6 address leaves as IPv4: it is judged (and written) as the IPv4 address it maps.
  if (target.family === 6 && target.prefix >= 96 && cidrHolds({ address: '::ffff:0:0', prefix: 96 }, 6, target.address)) return 'an IPv4-mapped IPv6 address: write the IPv4 address'
  const linkLocal = LINK_LOCAL[target.family]
  if (target.prefix >= linkLocal.prefix && cidrHolds(linkLocal, target.family, target.address)) return 'link-local addresses (cloud metadata) can never be allowed'
  if (target.family === 4 && cidrHolds({ address: '127.0.0.0', prefix: 8 }, 4, target.address) && target.prefix >= 8) return "the host's own (loopback) addresses can never be allowed"
  if (target.family === 6 && target.prefix === 128 && addressBits(target.address, 6) === 1n) return "the host's own (loopback) addresses can never be allowed"
  const width = target.family === 4 ? 32 : 128
  for (const own of hostAddresses) {
    if (isIP(own) === target.family && target.prefix === width && addressBits(own, target.family) === addressBits(target.address, target.family)) {
      return "the host's own addresses can never be allowed"
    }
  }
  return undefined
}

/** The allow entries as targets; throws a sentence naming the first bad entry. */
export function parseAllowList(entries: readonly string[], hostAddresses: readonly string[], where: string): AllowTarget[] {
  if (entries.length > MAX_ALLOW_ENTRIES) throw new Error(`${where}: at most ${MAX_ALLOW_ENTRIES} entries`)
  return entries.map((entry, index) => {
    const shown = JSON.stringify(entry.slice(0, 300))
    const target = parseAllowEntry(entry)
    if ('error' in target) throw new Error(`${where}[${index}] ${shown}: ${target.error}`)
    const why = target.kind === 'cidr' ? forbiddenTarget(target, hostAddresses) : undefined
    if (why !== undefined) throw new Error(`${where}[${index}] ${shown}: ${why}`)
    return target
  })
}

/** The same policy always reads the same (a spec's hash, a view). */
export function sameEgress(a: Egress, b: Egress): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** Every address of the host, on every interface (zone ids dropped), those of an interface without carrier too
 *  (Node lists only running ones; a tools' bridge with no container is down): the kernel's local routes and
 *  IPv6 addresses from /proc, with Node's list. */
export function hostAddresses(): string[] {
  const listed = Object.values(networkInterfaces()).flatMap((addresses) => (addresses ?? []).map((address) => address.address.replace(/%.*$/, '')))
  const local4 = [...readOr('/proc/net/fib_trie').matchAll(/\|-- ([0-9.]+)\n(?:\s+\/\d+ \w+ \w+\n)*?\s+\/32 host LOCAL/g)].map((match) => match[1] as string)
  const local6 = [...readOr('/proc/net/if_inet6').matchAll(/^([0-9a-f]{32}) /gm)].map((match) => (match[1] as string).match(/.{4}/g)?.join(':') ?? '')
  return [...new Set([...listed, ...local4, ...local6.filter(Boolean)])]
}

/** The MAC address the agent gives a container with a narrowed egress on the tools' network: locally
 *  administered, unicast, from its name (unique on the engine), so it stays the same across restarts of
 *  the container, of the engine and of the agent, and the policy's rules can name it before it starts. */
export function toolMacAddress(containerName: string): string {
  const bytes = createHash('sha256').update(`dtma-mac\0${containerName}`).digest().subarray(0, 5)
  return ['02', ...[...bytes].map((byte) => byte.toString(16).padStart(2, '0'))].join(':')
}
