// Counts failed authentications per client address in a fixed window; an
// address that reaches the limit gets 429 for the rest of its window, unless
// it presents a valid token (auth.ts serves those). IPv6 clients are counted
// per /64, the block one host is usually given, so a client cannot step
// around its limit through its own addresses. In memory and bounded: at most
// maxAddresses are tracked and the oldest window is forgotten first.
import { isIPv6 } from 'node:net'

export interface AuthFailureLimiterOptions {
  limit: number
  windowMs: number
  maxAddresses?: number
  now?: () => number
}

interface Window {
  startedAt: number
  failures: number
}

const DEFAULT_MAX_ADDRESSES = 10_000

export class AuthFailureLimiter {
  private readonly limit: number
  private readonly windowMs: number
  private readonly maxAddresses: number
  private readonly now: () => number
  /** Insertion order is window start order: the first entry is the oldest. */
  private readonly windows = new Map<string, Window>()

  constructor(options: AuthFailureLimiterOptions) {
    this.limit = options.limit
    this.windowMs = options.windowMs
    this.maxAddresses = options.maxAddresses ?? DEFAULT_MAX_ADDRESSES
    this.now = options.now ?? Date.now
  }

  /** Seconds until the address may try again, or undefined when it may now. */
  retryAfterSeconds(address: string | undefined): number | undefined {
    const window = this.current(clientKey(address))
    if (window === undefined || window.failures < this.limit) return undefined
    return Math.max(1, Math.ceil((window.startedAt + this.windowMs - this.now()) / 1000))
  }

  /** Records a failure; true when it is the one that blocks the address. */
  recordFailure(address: string | undefined): boolean {
    const key = clientKey(address)
    let window = this.current(key)
    if (window === undefined) {
      this.makeRoom()
      window = { startedAt: this.now(), failures: 0 }
      this.windows.set(key, window)
    }
    window.failures += 1
    return window.failures === this.limit
  }

  get trackedAddresses(): number {
    return this.windows.size
  }

  private current(address: string): Window | undefined {
    const window = this.windows.get(address)
    if (window === undefined) return undefined
    if (this.now() - window.startedAt < this.windowMs) return window
    this.windows.delete(address)
    return undefined
  }

  private makeRoom(): void {
    const now = this.now()
    for (const [address, window] of this.windows) {
      if (this.windows.size < this.maxAddresses && now - window.startedAt < this.windowMs) return
      this.windows.delete(address)
    }
  }
}

/**
 * What the limiter counts by: an IPv4 address as it is (also when IPv4-mapped), an IPv6 one by its /64.
 * A request whose client has already gone has no address: all such count as one.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown'
  const bare = address.replace(/%.*$/, '')
  if (!isIPv6(bare)) return address
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)
  if (mapped !== null) return mapped[1] as string
  return `${ipv6Groups(bare).slice(0, 4).join(':')}::/64`
}

/** The eight groups of a valid IPv6 address, without leading zeros. */
function ipv6Groups(address: string): string[] {
  const toGroups = (part: string): string[] => {
    if (part === '') return []
    const groups = part.split(':')
    const last = groups.at(-1) as string
    if (!last.includes('.')) return groups
    // An IPv4 tail (64:ff9b::1.2.3.4) is the last two groups.
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number]
    return [...groups.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)]
  }
  const [head = '', tail] = address.split('::')
  const front = toGroups(head)
  const back = tail === undefined ? [] : toGroups(tail)
  const groups = [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back]
  return groups.map((group) => parseInt(group, 16).toString(16))
}
