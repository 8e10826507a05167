// A deploy of a missing image reports its pull on /events, and a slow pull
// blocks only its own instance: the registry is reached through a gate the
// test holds shut while other instances are deployed, stopped and started.
import { randomBytes } from 'node:crypto'
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { PullProgressEvent, readServerSentEvents, type ServerSentEvent } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { docker, freePort, startTestAgent, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'

const REGISTRY = process.env.DTMA_TEST_REGISTRY ?? '127.0.0.1:5000'

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())))
}

/** An HTTP proxy to the registry that holds manifest requests until opened. */
async function gatedRegistry(t: { teardown(fn: () => unknown): void }): Promise<{ address: string; held: () => number; open: () => void }> {
  const [registryHost, registryPort] = REGISTRY.split(':') as [string, string]
  let opened = false
  const waiting: Array<() => void> = []
  const forward = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const upstream = httpRequest({ host: registryHost, port: Number(registryPort), method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(outgoing)
    })
    upstream.on('error', () => outgoing.destroy())
    incoming.pipe(upstream)
  }
  const server = createServer((incoming, outgoing) => {
    if (opened || !(incoming.url ?? '').includes('/manifests/')) return forward(incoming, outgoing)
    waiting.push(() => forward(incoming, outgoing))
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return {
    address: `127.0.0.1:${port}`,
    held: () => waiting.length,
    open: () => {
      opened = true
      for (const release of waiting.splice(0)) release()
    }
  }
}

t.test('a slow pull streams progress and does not block other instances', async (t) => {
  const gate = await gatedRegistry(t)
  // Pushed to the real registry, pulled through the gate under the gate's address.
  const tag = `t${randomBytes(4).toString('hex')}`
  const pushed = `${REGISTRY}/dtma-test/slow:${tag}`
  await docker.getImage(TEST_IMAGE).tag({ repo: `${REGISTRY}/dtma-test/slow`, tag })
  await drain(await docker.getImage(pushed).push({ authconfig: { serveraddress: REGISTRY } }))
  await docker.getImage(pushed).remove()
  const image = `${gate.address}/dtma-test/slow:${tag}`
  t.teardown(() => docker.getImage(image).remove({ force: true }).catch(() => undefined))

  const agent = await startTestAgent(t)
  const other = uniqueName('Bystander')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(other) })).status, 201)

  const controller = new AbortController()
  t.teardown(() => controller.abort())
  const opened = await agent.client.events({ signal: controller.signal })
  if (opened.status !== 200) throw new Error(`events answered ${opened.status}`)
  const events: ServerSentEvent[] = []
  const reading = (async () => {
    for await (const event of readServerSentEvents(opened.response)) events.push(event)
  })().catch(() => undefined)

  const slowName = uniqueName('Slow Pull')
  const slowDeploy = agent.client.deployTool({ body: agent.deployBody(slowName, { image }) })
  while (gate.held() === 0) await new Promise((resolve) => setTimeout(resolve, 50))
  t.pass('the pull is waiting on the registry')

  // Other instances are served while the pull hangs.
  const started = Date.now()
  t.equal((await agent.client.stopTool({ params: { name: other } })).status, 200)
  t.equal((await agent.client.startTool({ params: { name: other } })).status, 200)
  const third = uniqueName('Meanwhile')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(third) })).status, 201)
  t.equal((await agent.client.listTools()).status, 200)
  t.ok(Date.now() - started < 15_000, `other operations finished in ${Date.now() - started} ms while the pull waited`)
  t.equal(gate.held() > 0, true, 'the pull was still held when they finished')
  const pending = await Promise.race([slowDeploy.then(() => 'done'), new Promise((resolve) => setTimeout(() => resolve('pending'), 100))])
  t.equal(pending, 'pending', 'the slow deploy had not answered')

  gate.open()
  const deployed = await slowDeploy
  t.match(deployed, { status: 201, body: { data: { image, image_source: 'pulled', state: 'running' } } })

  const deadline = Date.now() + 10_000
  while (!events.some((event) => event.event === 'instance' && event.data.includes(slowName) && event.data.includes('"running"')) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const pulls = events.filter((event) => event.event === 'pull').map((event) => JSON.parse(event.data) as unknown)
  t.ok(pulls.length > 0, `pull progress arrived on /events (${pulls.length} events)`)
  t.ok(pulls.every((pull) => Value.Check(PullProgressEvent, pull)), 'each is a PullProgressEvent')
  t.ok(
    pulls.every((pull) => (pull as PullProgressEvent).instanceName === slowName && (pull as PullProgressEvent).image === image),
    'naming the instance and image'
  )
  const firstPull = events.findIndex((event) => event.event === 'pull')
  const firstRunning = events.findIndex((event) => event.event === 'instance' && event.data.includes(slowName) && event.data.includes('"running"'))
  t.ok(firstPull >= 0 && firstRunning > firstPull, 'progress comes before the instance runs')
  controller.abort()
  await reading
})
