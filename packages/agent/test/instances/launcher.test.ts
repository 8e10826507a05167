// startOnFreedPorts: a take-over's new container starts on the host ports of
// the container just stopped, which a loaded engine may still hold for some
// seconds. A port conflict is tried again with a bounded backoff; any other
// error, or a conflict that outlasts the tries, is thrown at once or at the end.
import pino from 'pino'
import t from 'tap'
import { DtmaError } from '../../src/errors.ts'
import { startOnFreedPorts } from '../../src/instances/launcher.ts'
import type { ContainerRuntime } from '../../src/runtime/types.ts'

const log = pino({ level: 'silent' })

/** A runtime whose start fails with `errors` in turn, then succeeds; it records when each start came. */
function runtimeFailing(errors: Error[]): { runtime: ContainerRuntime; starts: number[] } {
  const starts: number[] = []
  const runtime = {
    async start() {
      starts.push(Date.now())
      const error = errors.shift()
      if (error !== undefined) throw error
    }
  } as unknown as ContainerRuntime
  return { runtime, starts }
}

const conflict = () => new DtmaError('port-conflict', 'Host port already in use')

t.test('a port conflict is tried again, 0.25 s, then 0.5 s, then 1 s apart, until the port is free', async (t) => {
  const { runtime, starts } = runtimeFailing([conflict(), conflict(), conflict(), conflict()])
  await startOnFreedPorts(runtime, 'c1', log)
  t.equal(starts.length, 5, 'four conflicts, then started')
  const gaps = starts.slice(1).map((at, i) => at - (starts[i] as number))
  t.comment(`gaps between tries (ms): ${gaps.join(', ')}`)
  for (const [i, least] of [250, 500, 1000, 1000].entries()) t.ok((gaps[i] ?? 0) >= least - 5, `try ${i + 2} waited at least ${least} ms`)
})

t.test('another error is not tried again', async (t) => {
  const { runtime, starts } = runtimeFailing([new DtmaError('unavailable', 'Docker engine unreachable')])
  await t.rejects(startOnFreedPorts(runtime, 'c2', log), /Docker engine unreachable/)
  t.equal(starts.length, 1)
})

t.test('a conflict that outlasts every try is thrown after the last one', async (t) => {
  const { runtime, starts } = runtimeFailing(Array.from({ length: 20 }, conflict))
  await t.rejects(startOnFreedPorts(runtime, 'c3', log), /Host port already in use/)
  t.equal(starts.length, 15, 'fifteen tries in all')
})
