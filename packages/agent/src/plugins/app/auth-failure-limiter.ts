// Counts failed authentications per client address in a fixed window; an
// address that reaches the limit is refused (429) for the rest of its window,
// even with a valid token, so a guess cannot be told right from wrong while
// it is blocked. In memory and bounded: at most maxAddresses are tracked and
// the oldest window is forgotten first.
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
  retryAfterSeconds(address: string): number | undefined {
    const window = this.current(address)
    if (window === undefined || window.failures < this.limit) return undefined
    return Math.max(1, Math.ceil((window.startedAt + this.windowMs - this.now()) / 1000))
  }

  /** Records a failure; true when it is the one that blocks the address. */
  recordFailure(address: string): boolean {
    let window = this.current(address)
    if (window === undefined) {
      this.makeRoom()
      window = { startedAt: this.now(), failures: 0 }
      this.windows.set(address, window)
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
