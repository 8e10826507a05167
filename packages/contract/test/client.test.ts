import t from 'tap'
import { buildPath, createDtmaClient, DtmaClientError, routes } from '../src/index.ts'

interface Recorded {
  url: string
  method: string
  headers: Record<string, string>
  body?: string
}

function recordingFetch(status: number, body: unknown, recorded: Recorded[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    recorded.push({
      url: String(input),
      method: init?.method ?? 'GET',
      headers: init?.headers as Record<string, string>,
      body: init?.body as string | undefined
    })
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
  }) as typeof fetch
}

t.test('buildPath percent-encodes names with spaces and slashes', async (t) => {
  t.equal(buildPath(routes.startTool.path, { name: 'Context7 MCP Server-1750278276605' }), '/tools/Context7%20MCP%20Server-1750278276605/start')
  t.equal(buildPath(routes.removeTool.path, { name: 'a/b?c' }), '/tools/a%2Fb%3Fc')
  t.throws(() => buildPath(routes.removeTool.path, {}), /missing path parameter 'name'/)
})

t.test('every route has a unique method and path', async (t) => {
  const keys = Object.values(routes).map((route) => `${route.method} ${route.path}`)
  t.equal(new Set(keys).size, keys.length)
})

t.test('client sends method, encoded path, bearer token and JSON body', async (t) => {
  const recorded: Recorded[] = []
  const client = createDtmaClient({ baseUrl: 'http://agent.test:30000/', token: 'tok-0123456789abcdef0123456789abcdef', fetch: recordingFetch(201, { success: true }, recorded) })
  const deployBody = { dockerImageUrl: 'a/b:1', instanceNameOnToolbox: 'My Tool', accountToolInstanceId: 'id-1' }
  const deployed = await client.deployTool({ body: deployBody })
  t.equal(deployed.status, 201)
  await client.stopTool({ params: { name: 'My Tool' } })
  t.same(
    recorded.map((r) => [r.method, r.url]),
    [
      ['POST', 'http://agent.test:30000/tools'],
      ['POST', 'http://agent.test:30000/tools/My%20Tool/stop']
    ]
  )
  t.equal(recorded[0]?.headers.authorization, 'Bearer tok-0123456789abcdef0123456789abcdef')
  t.equal(recorded[0]?.headers['content-type'], 'application/json')
  t.same(JSON.parse(recorded[0]?.body ?? '{}'), deployBody)
  t.equal(recorded[1]?.body, undefined)
})

t.test('client answers text bodies as text', async (t) => {
  const client = createDtmaClient({
    baseUrl: 'http://agent.test',
    fetch: (async () => new Response('OK', { status: 200, headers: { 'content-type': 'text/plain' } })) as typeof fetch
  })
  const health = await client.health()
  t.same(health, { status: 200, body: 'OK' })
})

t.test('client times out with a DtmaClientError of kind timeout', async (t) => {
  const neverAnswers = ((_input: unknown, init?: RequestInit) =>
    new Promise((_resolve, reject) => {
      init?.signal?.addEventListener('abort', () => reject(new Error('aborted')))
    })) as typeof fetch
  const client = createDtmaClient({ baseUrl: 'http://agent.test', fetch: neverAnswers, timeoutMs: 30 })
  const error = await client.listTools().catch((e: unknown) => e)
  t.ok(error instanceof DtmaClientError)
  t.equal((error as DtmaClientError).kind, 'timeout')
  t.match((error as Error).message, /within 30 ms/)
})

t.test('client reports network failures and invalid JSON', async (t) => {
  const refused = createDtmaClient({ baseUrl: 'http://agent.test', fetch: (async () => Promise.reject(new TypeError('connect ECONNREFUSED'))) as typeof fetch })
  const networkError = (await refused.status().catch((e: unknown) => e)) as DtmaClientError
  t.equal(networkError.kind, 'network')
  t.match(networkError.message, /ECONNREFUSED/)

  const garbled = createDtmaClient({
    baseUrl: 'http://agent.test',
    fetch: (async () => new Response('{not json', { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch
  })
  const badResponse = (await garbled.status().catch((e: unknown) => e)) as DtmaClientError
  t.equal(badResponse.kind, 'bad-response')
})
