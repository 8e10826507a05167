// Docker's event stream as the runtime reads it: one UTF-8 text across
// chunks (a character split between two chunks stays whole), a line that is
// not an event is skipped and reported while the reader goes on, an
// oversized line cannot grow the buffer. The chunks are cut by hand through
// a stream; the last test follows a real engine's stream.
import { randomBytes } from 'node:crypto'
import { PassThrough, Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { LineDecoder } from '../../src/runtime/line-decoder.ts'
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts'
import { readEventStream } from '../../src/runtime/docker/events-and-logs.ts'
import { DockerWatcher } from '../../src/instances/docker-watcher.ts'
import type { ContainerEvent, ContainerRuntime, EventHandlers } from '../../src/runtime/types.ts'
import { docker, TEST_IMAGE } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const NAME = 'Ünïcødé 名前 MCP Server 🚀'

function eventLine(action: string, name: string, id = 'c0ffee'): string {
  return `${JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { 'dtma.instance-name': name } } })}\n`
}

function reader(): { stream: PassThrough; events: ContainerEvent[]; malformed: string[] } {
  const stream = new PassThrough()
  const events: ContainerEvent[] = []
  const malformed: string[] = []
  readEventStream(stream, { onEvent: (event) => events.push(event), onMalformed: (reason) => malformed.push(reason) })
  return { stream, events, malformed }
}

t.test('a multi-byte name split across chunks arrives whole, at every cut', async (t) => {
  const bytes = Buffer.from(eventLine('start', NAME) + eventLine('die', NAME), 'utf8')
  let cuts = 0
  for (let cut = 1; cut < bytes.length; cut++) {
    const { stream, events, malformed } = reader()
    stream.write(bytes.subarray(0, cut))
    stream.write(bytes.subarray(cut))
    if (events.length !== 2 || events.some((event) => event.instanceName !== NAME) || malformed.length > 0) t.fail(`cut at byte ${cut}: ${JSON.stringify(events)} ${malformed.join()}`)
    cuts++
  }
  t.pass(`${cuts} cuts, every one read as two events of '${NAME}'`)
  const { stream, events } = reader()
  for (const byte of bytes) stream.write(Buffer.from([byte]))
  t.same(events.map((event) => [event.action, event.instanceName]), [['start', NAME], ['die', NAME]], 'one byte per chunk')
})

t.test('a malformed line is skipped and reported; the events around it are read', async (t) => {
  const { stream, events, malformed } = reader()
  stream.write(eventLine('start', 'before'))
  stream.write('{"Type":"container","Action":"st\n')
  stream.write('null\n\n')
  stream.write(eventLine('stop', 'after').replace('\n', '\r\n'))
  stream.end(eventLine('destroy', 'last').trimEnd())
  await new Promise((resolve) => stream.once('end', resolve))
  t.same(events.map((event) => [event.action, event.instanceName]), [['start', 'before'], ['stop', 'after'], ['destroy', 'last']], 'CRLF and a last line without its LF are read too')
  t.same(malformed, ['a line that is not JSON', 'a line that is not a JSON object'])
})

t.test('an oversized line is skipped without being held, and the next line is read', async (t) => {
  let oversized = 0
  const decoder = new LineDecoder({ maxLineBytes: 100, onOversized: () => oversized++ })
  t.same(decoder.push(Buffer.from('short\n' + 'x'.repeat(80))), ['short'])
  t.same(decoder.push(Buffer.from('y'.repeat(80))), [], 'over the limit: dropped')
  t.same(decoder.push(Buffer.from('z'.repeat(500))), [], 'the rest of it is not kept either')
  t.same(decoder.push(Buffer.from('tail of the long one\nnext\n')), ['next'])
  t.same(decoder.push(Buffer.from(`${'w'.repeat(200)}\nafter\n`)), ['after'], 'a long line inside one chunk too')
  t.equal(oversized, 2, 'each reported once')
  t.same(decoder.end(), [])
})

t.test("a real engine's events of a container with a multi-byte name are read", async (t) => {
  const scope = `t-events-${randomBytes(4).toString('hex')}`
  const runtime = new DockerRuntime({ socketPath: '/var/run/docker.sock', scope, sandbox: { memoryBytes: 64 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' }, pullTimeoutMs: 5000 })
  const events: ContainerEvent[] = []
  const malformed: string[] = []
  const subscription = await runtime.subscribe({ onEvent: (event) => events.push(event), onEnd: () => undefined, onMalformed: (reason) => malformed.push(reason) })
  t.teardown(() => subscription.close())
  // Long (80 KB): Docker's event line may come in more than one read.
  const name = `${NAME} ${'é'.repeat(40_000)}`
  const container = await docker.createContainer({ Image: TEST_IMAGE, Labels: { 'dtma.managed': 'true', 'dtma.scope': scope, 'dtma.instance-name': name } })
  t.teardown(() => container.remove({ force: true }).catch(() => undefined))
  await container.start()
  const started = await waitFor(() => events.find((event) => event.action === 'start' && event.containerId === container.id), 10_000)
  t.equal(started?.instanceName, name, 'the name arrives whole')
  t.same(malformed, [])
})

t.test('the watcher counts malformed lines and logs the first one only', async (t) => {
  const lines: string[] = []
  const logger = pino({ level: 'info' }, new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString())
      done()
    }
  }))
  // Docker itself never sends one: a runtime whose stream sends three, then nothing.
  const runtime = {
    ping: async () => undefined,
    subscribe: async (handlers: EventHandlers) => {
      for (const reason of ['a line that is not JSON', 'a line that is not JSON', 'a line that is not a JSON object']) handlers.onMalformed?.(reason)
      return { close: () => undefined }
    }
  } as unknown as ContainerRuntime
  const watcher = new DockerWatcher({ runtime, logger, onEvent: () => undefined, resync: async () => undefined, resyncIntervalMs: 60_000 })
  watcher.start()
  t.teardown(() => watcher.stop())
  await watcher.firstSync
  t.equal(watcher.malformedEventLines, 3, 'counted')
  const logged = lines.filter((line) => line.includes('event line DTMA cannot read'))
  t.equal(logged.length, 1, 'logged once')
  t.match(logged[0], /"reason":"a line that is not JSON"/)
})
