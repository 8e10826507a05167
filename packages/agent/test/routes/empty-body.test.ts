// Agentopia's callers send `Content-Type: application/json` on every
// request, also on start, stop and delete, which carry no body. Every way an
// empty body reaches the agent (Content-Length: 0, a charset, chunked with
// no chunk, no length at all) is "no body"; a deploy without a body gets its
// 400 naming the missing field. Raw HTTP, so nothing in between helps.
import { connect } from 'node:net'
import t from 'tap'
import { startTestAgent, TOKEN, uniqueName } from '../helpers/agent.ts'

/** One raw HTTP/1.1 exchange; resolves with the status and the body text. */
function rawExchange(port: number, head: string, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      const payload = text.slice(text.indexOf('\r\n\r\n') + 4)
      // A chunked answer: keep the JSON between the size lines.
      resolve({ status, body: payload.includes('{') ? payload.slice(payload.indexOf('{'), payload.lastIndexOf('}') + 1) : payload })
    })
    socket.write(`${head}\r\n\r\n${body}`)
  })
}

const EMPTY_BODY_FRAMINGS: Array<[string, (method: string, path: string) => string, string]> = [
  ['Content-Length: 0', (m, p) => `${m} ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close`, ''],
  ['a charset', (m, p) => `${m} ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 0\r\nConnection: close`, ''],
  ['chunked with no chunk', (m, p) => `${m} ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close`, '0\r\n\r\n'],
  ['no length at all', (m, p) => `${m} ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nConnection: close`, ''],
  ['whitespace only', (m, p) => `${m} ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close`, ' \n']
]

t.test('start, stop, restart and delete with a JSON content type and an empty body', async (t) => {
  const agent = await startTestAgent(t)
  for (const [framing, head, body] of EMPTY_BODY_FRAMINGS) {
    const name = uniqueName('Empty Body')
    t.equal((await agent.client.deployTool({ body: agent.deployBody(name) })).status, 201)
    const path = `/tools/${encodeURIComponent(name)}`
    const steps: Array<[string, string, RegExp]> = [
      ['POST', `${path}/stop`, /stopped\.$/],
      ['POST', `${path}/start`, /started\.$/],
      ['POST', `${path}/restart`, /restarted\.$/],
      ['DELETE', path, /removed successfully\.$/]
    ]
    for (const [method, stepPath, message] of steps) {
      const reply = await rawExchange(agent.port, head(method, stepPath), body)
      t.equal(reply.status, 200, `${framing}: ${method} ${stepPath.replace(path, '')} answers 200 (${reply.body})`)
      t.match(JSON.parse(reply.body), { success: true, message }, `${framing}: ${method} ${stepPath.replace(path, '')} did it`)
    }
  }
})

t.test('a deploy with an empty JSON body is a 400 that names the missing field', async (t) => {
  const agent = await startTestAgent(t)
  for (const [framing, head, body] of EMPTY_BODY_FRAMINGS) {
    const reply = await rawExchange(agent.port, head('POST', '/tools'), body)
    t.equal(reply.status, 400, `${framing}: 400`)
    t.match(JSON.parse(reply.body), { success: false, code: 'DTMA_BAD_REQUEST', error: /missing required field 'dockerImageUrl'/ }, `${framing}: names the field`)
  }
})

t.test('a body that is not JSON under a JSON content type is still refused', async (t) => {
  const agent = await startTestAgent(t)
  const reply = await rawExchange(agent.port, `POST /tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close`, '{"a":')
  t.equal(reply.status, 400)
  t.match(JSON.parse(reply.body), { success: false, error: /not valid JSON/ })
  const poisoned = '{"__proto__":{"x":1}}'
  const proto = await rawExchange(agent.port, `POST /tools HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${poisoned.length}\r\nConnection: close`, poisoned)
  t.equal(proto.status, 400, 'prototype poisoning is refused as before')
})
