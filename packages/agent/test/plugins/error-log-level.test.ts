// The log level of a failed request says whose fault it is: only a fault of
// DTMA (500) is an error line; Docker failing an operation (502) is a
// warning; Docker away or the agent not ready yet (503) is routine and logged
// once where it starts, so a poll of /health/ready during start-up or a
// Docker outage does not fill the log with error lines.
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { DtmaError, type ErrorKind } from '../../src/errors.ts'
import { createLogger } from '../../src/logger.ts'
import errorsPlugin from '../../src/plugins/app/errors.ts'

async function levelOfFailure(t: Test, failure: Error): Promise<{ status: number; levels: number[] }> {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean))
      done()
    }
  })
  const app = Fastify({ loggerInstance: createLogger('info', sink) })
  t.teardown(() => app.close())
  await app.register(errorsPlugin)
  app.get('/fail', async () => {
    throw failure
  })
  const response = await app.inject({ method: 'GET', url: '/fail' })
  // Fastify's own 'incoming request' / 'request completed' lines aside.
  const failureLines = lines.map((line) => JSON.parse(line) as { level: number; req?: unknown; res?: unknown }).filter((line) => !line.req && !line.res)
  const levels = failureLines.map((line) => line.level)
  return { status: response.statusCode, levels }
}

const cases: Array<{ failure: Error; status: number; level: number; label: string }> = [
  { failure: new Error('a bug'), status: 500, level: 50, label: 'an unexpected error is an error line' },
  ...(
    [
      ['docker-failed', 502, 40],
      ['pull-failed', 502, 40],
      ['unavailable', 503, 30],
      ['not-ready', 503, 30],
      ['conflict', 409, 30],
      ['invalid', 400, 30]
    ] as Array<[ErrorKind, number, number]>
  ).map(([kind, status, level]) => ({ failure: new DtmaError(kind, `${kind} happened`), status, level, label: `${kind} (${status}) logs at level ${level}` }))
]

for (const { failure, status, level, label } of cases) {
  t.test(label, async (t) => {
    const result = await levelOfFailure(t, failure)
    t.equal(result.status, status, 'answered with its status')
    t.same(result.levels, [level], 'one log line at that level')
  })
}
