import t from 'tap'
import { KeyedLock } from '../../src/instances/keyed-lock.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

t.test('operations on one key run one at a time, in order; other keys run in parallel', async (t) => {
  const lock = new KeyedLock()
  const events: string[] = []
  const op = (key: string, id: string, ms: number) =>
    lock.run(key, async () => {
      events.push(`start ${id}`)
      await sleep(ms)
      events.push(`end ${id}`)
      return id
    })
  const results = await Promise.all([op('a', 'a1', 30), op('a', 'a2', 1), op('b', 'b1', 5)])
  t.same(results, ['a1', 'a2', 'b1'])
  t.same(events, ['start a1', 'start b1', 'end b1', 'end a1', 'start a2', 'end a2'])
})

t.test('a failed operation does not block the next one', async (t) => {
  const lock = new KeyedLock()
  const failed = lock.run('a', async () => {
    throw new Error('boom')
  })
  const next = lock.run('a', async () => 'ran')
  await t.rejects(failed, /boom/)
  t.equal(await next, 'ran')
  await lock.drain()
})
