// Assertions for the Deno tests. `jsr:@std/assert` needs the network and
// `node:assert` needs @types/node resolved through npm:, which Deno cannot
// do offline here; these few cover what the tests ask.
export class AssertionError extends Error {
  override name = 'AssertionError'
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value, null, 1)?.replace(/\n\s*/g, ' ') ?? String(value))
}

export function ok(value: unknown, message = 'expected a truthy value'): asserts value {
  if (!value) throw new AssertionError(message)
}

export function equal<T>(actual: T, expected: T, message?: string): void {
  if (!Object.is(actual, expected)) throw new AssertionError(`${message ? message + ': ' : ''}${show(actual)} !== ${show(expected)}`)
}

export function deepEqual(actual: unknown, expected: unknown, message?: string): void {
  if (!same(actual, expected)) throw new AssertionError(`${message ? message + ': ' : ''}\n  actual:   ${show(actual)}\n  expected: ${show(expected)}`)
}

export function match(actual: string, pattern: RegExp, message?: string): void {
  if (!pattern.test(actual)) throw new AssertionError(`${message ? message + ': ' : ''}${show(actual)} does not match ${pattern}`)
}

function same(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keysA = Object.keys(a).filter((key) => (a as Record<string, unknown>)[key] !== undefined)
  const keysB = Object.keys(b).filter((key) => (b as Record<string, unknown>)[key] !== undefined)
  if (keysA.length !== keysB.length) return false
  return keysA.every((key) => same((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
}

/** A timestamp naming this instant, whatever its notation (PostgreSQL writes +00:00 and microseconds, JavaScript Z and milliseconds). */
export function sameInstant(actual: unknown, expected: string | Date, message?: string): void {
  const seen = typeof actual === 'string' ? Date.parse(actual) : Number.NaN
  const wanted = new Date(expected).getTime()
  if (seen !== wanted) throw new AssertionError(`${message ? message + ': ' : ''}${show(actual)} is not the instant ${new Date(expected).toISOString()}`)
}
