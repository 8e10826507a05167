// An outage is two log lines, however many failures it holds: a warning
// when it starts and a line with its length when it ends.
import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../src/logger.ts'
import { OutageLog } from '../src/outage-log.ts'

t.test('one warning per outage, one recovery line with its length', async (t) => {
  const lines: Array<{ level: number; msg: string; outageMs?: number; reason?: string }> = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean).map((line) => JSON.parse(line)))
      done()
    }
  })
  const outage = new OutageLog(createLogger('info', sink), { down: 'thing down', up: 'thing back' })

  outage.recovered()
  t.equal(outage.ongoing, false)
  for (let i = 0; i < 5; i++) outage.failed({ reason: `attempt ${i}` })
  t.equal(outage.ongoing, true)
  await new Promise((resolve) => setTimeout(resolve, 20))
  outage.recovered({ pending: 3 })
  outage.recovered()
  outage.failed({ reason: 'again' })
  await new Promise((resolve) => setImmediate(resolve))

  t.same(
    lines.map(({ level, msg, reason }) => ({ level, msg, reason })),
    [
      { level: 40, msg: 'thing down', reason: 'attempt 0' },
      { level: 30, msg: 'thing back', reason: undefined },
      { level: 40, msg: 'thing down', reason: 'again' }
    ]
  )
  t.ok((lines[1]?.outageMs ?? 0) >= 15, `the recovery line says how long it lasted (${lines[1]?.outageMs} ms)`)
  t.match(lines[1], { pending: 3 }, 'with the fields of the recovery')
})
