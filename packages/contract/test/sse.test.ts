// readServerSentEvents against a real HTTP server that writes its stream in
// chosen chunks: lines end at CR, LF or CRLF as the SSE spec allows (a CRLF
// split between two chunks is one line end), a BOM and comments are skipped,
// multi-line data is joined, an event without data is not one.
import { createServer, type Server } from 'node:http'
import t, { type Test } from 'tap'
import { readServerSentEvents, type ServerSentEvent } from '../src/index.ts'

/** Serves one stream written as these chunks, a moment apart so each is its own read. */
async function serve(t: Test, chunks: string[]): Promise<string> {
  const server: Server = createServer(async (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    for (const chunk of chunks) {
      response.write(chunk)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    response.end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const address = server.address()
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/events`
}

async function readAll(url: string): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = []
  for await (const event of readServerSentEvents(await fetch(url))) events.push(event)
  return events
}

const EXPECTED: ServerSentEvent[] = [
  { event: 'instance', data: '{"a":1}' },
  { event: 'message', data: 'two\nlines' },
  { event: 'upgrade', data: 'last' }
]

function stream(end: string): string {
  return [': keep-alive', '', 'event: instance', 'data: {"a":1}', '', 'data: two', 'data: lines', '', 'event: nothing', '', 'event: upgrade', 'data:last', '', ''].join(end)
}

t.test('a CR-only stream', async (t) => {
  t.same(await readAll(await serve(t, [stream('\r')])), EXPECTED)
})

t.test('a CRLF stream, each CRLF split between two chunks', async (t) => {
  const text = stream('\r\n')
  const chunks = text.split('\r\n').flatMap((line, index, lines) => (index < lines.length - 1 ? [`${line}\r`, '\n'] : [line]))
  t.same(await readAll(await serve(t, chunks)), EXPECTED)
})

t.test('an LF stream with a BOM, one character per chunk', async (t) => {
  t.same(await readAll(await serve(t, [...`\uFEFF${stream('\n').slice(0, 60)}`, stream('\n').slice(60)])), EXPECTED)
})

t.test('line ends mixed in one stream', async (t) => {
  t.same(await readAll(await serve(t, ['event: instance\rdata: {"a":1}\r\n\ndata: two\ndata: lines\r\r', 'event: upgrade\r\ndata: last\n\n'])), EXPECTED)
})

t.test('an event the stream ends in the middle of is dropped', async (t) => {
  t.same(await readAll(await serve(t, ['data: whole\n\n', 'data: cut sho'])), [{ event: 'message', data: 'whole' }])
  t.same(await readAll(await serve(t, ['data: whole\r\r', 'data: cut short\r'])), [{ event: 'message', data: 'whole' }])
})
