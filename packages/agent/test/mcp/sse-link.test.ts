// The link to an HTTP+SSE server waits for the server's endpoint event a
// bounded time: a server that answers the stream's headers and then says
// nothing is given up (the link stays down, the stream is closed), and the
// next connect tries again instead of joining the start that hangs.
import { once } from 'node:events'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { SseLink } from '../../src/mcp/sse-link.ts'
import { waitFor } from '../helpers/wait.ts'

async function sseServer(t: { teardown(fn: () => unknown): void }, namesEndpoint: () => boolean) {
  const streams = new Set<ServerResponse>()
  const opened = { count: 0 }
  const server = createServer((request, response) => {
    if (request.method !== 'GET') return void response.writeHead(404).end()
    opened.count += 1
    streams.add(response)
    response.on('close', () => streams.delete(response))
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
    response.flushHeaders()
    if (namesEndpoint()) response.write('event: endpoint\ndata: /messages\n\n')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const stream of streams) stream.destroy()
    server.close()
  })
  return { url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/sse`), streams, opened }
}

const handlers = () => {
  const seen = { up: 0, down: [] as string[] }
  return { seen, handlers: { message: () => undefined, up: () => void (seen.up += 1), down: (reason: string) => void seen.down.push(reason) } }
}

t.test('a server that never names its endpoint: the start is given up, the stream closed, the next connect tries again', async (t) => {
  let speaks = false
  const server = await sseServer(t, () => speaks)
  const { seen, handlers: linkHandlers } = handlers()
  const link = new SseLink({ url: async () => server.url, handlers: linkHandlers, startTimeoutMs: 500 })
  t.teardown(() => link.close())
  const started = Date.now()
  await t.rejects(link.connect(), /named no endpoint within 500 ms/, 'the connect fails with the reason')
  t.comment(`given up after ${Date.now() - started} ms; streams left open on the server: ${server.streams.size}`)
  t.equal(link.isUp, false, 'the link is down')
  t.equal(seen.up, 0, 'never said to be up')
  await waitFor(() => (server.streams.size === 0 ? true : undefined), 5000, 20)
  t.equal(server.streams.size, 0, 'the stream it opened is closed')
  speaks = true
  await link.connect()
  t.equal(server.opened.count, 2, 'the next connect opened a new stream')
  t.equal(link.isUp, true, 'and the link is up once the server names its endpoint')
  t.equal(seen.up, 1, 'said to be up once')
})
