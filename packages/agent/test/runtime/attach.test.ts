// The runtime's attach through the Engine API, on a real stdio MCP server:
// an interactive container (stdin open, no TTY) is attached, spoken to, let
// go and attached again with its stdin still open; stdout and stderr come
// apart; a container made without an open stdin, or a stopped one, is refused.
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import t from 'tap'
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts'
import { docker, scopeFor, tempDir, TEST_IMAGE } from '../helpers/agent.ts'
import { ensureMcpImages, MCP_IMAGES } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

const INITIALIZE = '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n'

/** The next complete line of a stream. */
async function nextLine(stream: Readable): Promise<string> {
  let text = ''
  while (!text.includes('\n')) {
    const [chunk] = (await once(stream, 'data')) as [Buffer]
    text += chunk.toString('utf8')
  }
  return text.slice(0, text.indexOf('\n'))
}

t.test('attach, speak, let go, attach again: stdin stays open and the server is the same', async (t) => {
  const dataDir = tempDir(t)
  const runtime = new DockerRuntime({ socketPath: '/var/run/docker.sock', scope: scopeFor(dataDir), sandbox: { memoryBytes: 256 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' }, pullTimeoutMs: 5000 })
  const id = await runtime.create({ containerName: `dtma-attach-${Date.now()}`, image: MCP_IMAGES.toolsV1, env: [], ports: [], labels: {}, interactive: true })
  t.teardown(() => docker.getContainer(id).remove({ force: true }))
  const config = (await docker.getContainer(id).inspect()).Config
  t.match(config, { OpenStdin: true, StdinOnce: false, Tty: false }, 'interactive: stdin open across attaches, no TTY')
  await t.rejects(runtime.attach(id), /is not running/, 'a container that does not run is not attached')
  await runtime.start(id)

  const first = await runtime.attach(id)
  first.stdin.write(INITIALIZE)
  t.match(JSON.parse(await nextLine(first.stdout)), { id: 1, result: { serverInfo: { name: 'dtma-test-tools' } } }, 'the answer comes on stdout')
  first.close()
  t.equal((await runtime.inspect(id))?.dockerState, 'running', 'letting go leaves the container running')

  const second = await runtime.attach(id)
  t.teardown(() => second.close())
  second.stdin.write('{"jsonrpc":"2.0","id":2,"method":"ping"}\n')
  t.same(JSON.parse(await nextLine(second.stdout)), { jsonrpc: '2.0', id: 2, result: {} }, 'the same server answers the next attach: its stdin stayed open')
  const info = await runtime.inspect(id)
  t.match(info?.startedAt, /^\d{4}-/, 'inspect says when it started')
  t.match(info?.ipAddress, /^\d+\.\d+\.\d+\.\d+$/, "and its address on the tools' network")

  const ended = once(second.stdout, 'end')
  second.stdout.resume()
  await runtime.stop(id, 1)
  await ended
  t.pass('the attach ends when the container stops')
})

t.test('a container made without an open stdin is refused with a sentence that says what to do', async (t) => {
  const dataDir = tempDir(t)
  const runtime = new DockerRuntime({ socketPath: '/var/run/docker.sock', scope: scopeFor(dataDir), sandbox: { memoryBytes: 64 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' }, pullTimeoutMs: 5000 })
  const id = await runtime.create({ containerName: `dtma-attach-plain-${Date.now()}`, image: TEST_IMAGE, env: [], ports: [], labels: {} })
  t.teardown(() => docker.getContainer(id).remove({ force: true }))
  t.equal((await docker.getContainer(id).inspect()).Config.OpenStdin, false, 'not interactive unless asked')
  await runtime.start(id)
  await t.rejects(runtime.attach(id), /without an open stdin.*deploy it again/)
})
