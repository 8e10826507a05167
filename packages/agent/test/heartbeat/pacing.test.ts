// The heartbeat's pacing against a real HTTP backend: the first beat after a
// start waits a random part of the interval (at most 30 s), later ones come
// every interval +-10%, and a 429 or 503 with Retry-After is waited out
// (plus up to half) instead of the interval; without the header the
// interval resumes. The random numbers are pinned, the gaps measured at the
// backend (a lower bound each: a timer never fires early).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import pino from 'pino'
import t from 'tap'
import { Heartbeat } from '../../src/heartbeat/heartbeat.ts'
import { Metrics } from '../../src/metrics/metrics.ts'
import { afterRetryAfter, retryAfterMs, RETRY_AFTER_MAX_MS, startDelay } from '../../src/pacing.ts'
import { waitFor } from '../helpers/wait.ts'

const TOKEN = 'heartbeat-token-never-logged'

/** A heartbeat function answering each beat with the next of `answers` (the last one repeats). */
async function backend(t: { teardown(fn: () => unknown): void }, answers: Array<{ status: number; retryAfter?: string }>) {
  const arrivals: number[] = []
  const server = createServer((request, response) => {
    request.resume()
    request.on('end', () => {
      const answer = answers[Math.min(arrivals.length, answers.length - 1)]!
      arrivals.push(performance.now())
      response.writeHead(answer.status, answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { arrivals, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/functions/v1/heartbeat` }
}

function heartbeat(t: { teardown(fn: () => unknown): void }, url: string, intervalMs: number, random: () => number, logs: string[] = []) {
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (logs.push(String(chunk)), done()) }))
  const beat = new Heartbeat({
    url,
    token: TOKEN,
    intervalMs,
    payload: () => ({ dtma_version: 'test', system_status: { cpu_load_percent: 0, load_average: [0], memory: { total_bytes: 1, free_bytes: 1, used_bytes: 0, active_bytes: 0 }, disk: { mount: '/', total_bytes: 1, used_bytes: 0, free_bytes: 1 }, uptime_seconds: 1 }, tool_statuses: [] }),
    whenReady: async () => undefined,
    logger,
    metrics: new Metrics(),
    random
  })
  t.teardown(() => beat.close())
  return beat
}

const gaps = (arrivals: number[]) => arrivals.slice(1).map((at, i) => Math.round(at - arrivals[i]!))

t.test('a 503 with Retry-After is waited out; a 503 without it is retried at the interval', async (t) => {
  const server = await backend(t, [{ status: 503, retryAfter: '2' }, { status: 503 }, { status: 204 }])
  const logs: string[] = []
  heartbeat(t, server.url, 300, () => 0, logs).start()
  t.ok(await waitFor(() => (server.arrivals.length >= 4 ? true : undefined), 10_000), 'four beats')
  const [afterRetryAfterGap, afterPlain503, afterOk] = gaps(server.arrivals)
  t.comment(`after "503 Retry-After: 2": expected >= 2000 ms, seen ${afterRetryAfterGap} ms`)
  t.comment(`after a 503 without Retry-After: expected the interval (270 ms with this jitter) and < 2000 ms, seen ${afterPlain503} ms`)
  t.comment(`after a 204: expected the interval, seen ${afterOk} ms`)
  t.ok(afterRetryAfterGap! >= 2000, 'Retry-After honoured')
  t.ok(afterPlain503! >= 270 && afterPlain503! < 2000, 'no Retry-After: the next beat comes at the interval')
  t.ok(afterOk! >= 270 && afterOk! < 2000, 'after a 204 the interval')
  t.notOk(logs.join('').includes(TOKEN), 'the token is in no log line')
})

t.test('a 429 with an HTTP-date Retry-After is waited out too', async (t) => {
  const server = await backend(t, [{ status: 429, retryAfter: new Date(Date.now() + 3000).toUTCString() }, { status: 204 }])
  heartbeat(t, server.url, 200, () => 0).start()
  t.ok(await waitFor(() => (server.arrivals.length >= 2 ? true : undefined), 10_000), 'two beats')
  const [gap] = gaps(server.arrivals)
  // An HTTP date has whole seconds: the wait is between 2 and 3 s from the first beat.
  t.comment(`after "429 Retry-After: <date 3 s ahead>": expected >= 1000 ms (and well above the 180 ms interval), seen ${gap} ms`)
  t.ok(gap! >= 1000, 'the date is honoured')
})

t.test('the first beat after a start waits its share of the interval; later beats are spread by +-10%', async (t) => {
  const server = await backend(t, [{ status: 204 }])
  const started = performance.now()
  let calls = 0
  // 0.5 for the start (half the interval), then the interval's extremes: 0.9 and 1.1 of it.
  const random = () => [0.5, 0, 0.999][Math.min(calls++, 2)]!
  heartbeat(t, server.url, 1000, random).start()
  t.ok(await waitFor(() => (server.arrivals.length >= 3 ? true : undefined), 10_000), 'three beats')
  const first = Math.round(server.arrivals[0]! - started)
  const [short, long] = gaps(server.arrivals)
  t.comment(`first beat: expected >= 500 ms after start, seen ${first} ms; gaps: expected >= 900 and >= 1099 ms (a timer never fires early), seen ${short} and ${long} ms`)
  t.ok(first >= 500, 'the start is delayed by its share')
  t.ok(short! >= 900, 'an interval drawn low')
  t.ok(long! >= 1099, 'an interval drawn high')
})

t.test('Retry-After is read as the backend means it, and never believed beyond 15 minutes', async (t) => {
  const now = Date.parse('2026-12-05T06:00:00Z')
  const cases: Array<[number, string | null, number | undefined]> = [
    [503, '5', 5000],
    [429, '0', 0],
    [503, 'Sat, 05 Dec 2026 06:00:30 GMT', 30_000],
    [503, 'Sat, 05 Dec 2026 05:59:00 GMT', 0],
    [503, '86400', RETRY_AFTER_MAX_MS],
    [503, 'soon', undefined],
    [503, '-3', undefined],
    [503, null, undefined],
    [500, '5', undefined],
    [200, '5', undefined]
  ]
  for (const [status, value, expected] of cases) {
    const seen = retryAfterMs(status, new Headers(value === null ? {} : { 'retry-after': value }), now)
    t.comment(`${status} Retry-After: ${value}: expected ${expected}, seen ${seen}`)
    t.equal(seen, expected, `${status} ${value}`)
  }
  t.equal(afterRetryAfter(0, () => 0), 1000, 'a zero wait is at least a second: no tight loop')
  t.equal(afterRetryAfter(2000, () => 0.999), 2999, 'up to half as much again')
  t.equal(startDelay(3_600_000, () => 0.999), 29_970, 'a start waits at most 30 s whatever the interval')
})
