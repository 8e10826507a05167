// When a reporter (heartbeat, registry) calls the backend again. A fleet of
// agents started together (a fleet-wide upgrade, a region coming back) must
// not call in step, so every interval is jittered; and a backend that
// answers 429 or 503 with Retry-After is left alone that long, with up to
// half as much again added so the crowd it told the same delay does not come
// back at once. Pure: the caller passes its random numbers (tests pin them).

/** The longest Retry-After believed: a broken header must not silence an agent for days. */
export const RETRY_AFTER_MAX_MS = 15 * 60_000

/** Retry-After (delta-seconds or an HTTP date) of a 429 or 503 answer, in ms; undefined when absent or unreadable. */
export function retryAfterMs(status: number, headers: Headers, now = Date.now()): number | undefined {
  if (status !== 429 && status !== 503) return undefined
  const value = headers.get('retry-after')?.trim()
  if (!value) return undefined
  // delta-seconds, or an HTTP date (a day name first): Date.parse would read '-3' as a year.
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : /^[A-Za-z]{3},/.test(value) ? Date.parse(value) - now : Number.NaN
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS) : undefined
}

/** An interval spread by +-10%. */
export function jitteredInterval(intervalMs: number, random: () => number): number {
  return Math.round(intervalMs * (0.9 + random() * 0.2))
}

/** The wait the backend asked for (at least a second), plus up to 50%. */
export function afterRetryAfter(waitMs: number, random: () => number): number {
  return Math.round(Math.max(waitMs, 1000) * (1 + random() * 0.5))
}

/** The first call after a start: somewhere within the interval, at most 30 s away. */
export function startDelay(intervalMs: number, random: () => number): number {
  return Math.round(random() * Math.min(intervalMs, 30_000))
}
