// Hostile deploy bodies are refused before Docker is touched: each gets a 400
// (413 for a body over the limit) whose `error` names the field, and a spy on
// the runtime sees no call while they are handled. Fields that would widen
// the sandbox (Privileged, Binds, CapAdd, NetworkMode, Devices) are among them.
import { ErrorBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts'
import type { ContainerRuntime } from '../../src/runtime/types.ts'
import { authHeaders, scopeFor, startTestAgent, tempDir, TEST_IMAGE } from '../helpers/agent.ts'

/** A real runtime that counts the calls made through it. */
function spiedRuntime(dataDir: string): { runtime: ContainerRuntime; calls: string[] } {
  const calls: string[] = []
  const real = new DockerRuntime({
    socketPath: '/var/run/docker.sock',
    scope: scopeFor(dataDir),
    sandbox: { memoryBytes: 64 << 20, pidsLimit: 64, nanoCpus: 1e9, capAdd: [], readonlyRootfs: false, network: 'dtma-tools' },
    pullTimeoutMs: 5000
  })
  const runtime = new Proxy(real, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        calls.push(String(property))
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
  return { runtime, calls }
}

const valid = () => ({
  dockerImageUrl: TEST_IMAGE,
  instanceNameOnToolbox: 'Hostile Input Target',
  accountToolInstanceId: 'ati-hostile',
  baseConfigOverrideJson: { Env: ['MODE=test'], HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '39999' }] } } }
})
type Body = Record<string, unknown> & { baseConfigOverrideJson: { Env: unknown; HostConfig: Record<string, unknown> } }

/** [what, body change, the text the error must name] */
const cases: Array<[string, (body: Body) => void, RegExp]> = [
  ['Privileged in baseConfigOverrideJson', (b) => Object.assign(b.baseConfigOverrideJson, { Privileged: true }), /baseConfigOverrideJson\.Privileged: DTMA does not let a caller set this Docker field/],
  ['Cmd in baseConfigOverrideJson', (b) => Object.assign(b.baseConfigOverrideJson, { Cmd: ['/bin/sh'] }), /baseConfigOverrideJson\.Cmd: DTMA does not let a caller set this Docker field/],
  ['User in baseConfigOverrideJson', (b) => Object.assign(b.baseConfigOverrideJson, { User: '0:0' }), /baseConfigOverrideJson\.User: DTMA does not let a caller set this Docker field/],
  ['Binds beside service keys', (b) => Object.assign(b.baseConfigOverrideJson, { environmentVariables: { A: 'b' }, Binds: ['/:/host'] }), /baseConfigOverrideJson\.Binds/],
  ['Privileged in HostConfig', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { Privileged: true }), /HostConfig: unknown field 'Privileged'/],
  ['Binds', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { Binds: ['/:/host'] }), /unknown field 'Binds'/],
  ['CapAdd', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { CapAdd: ['SYS_ADMIN'] }), /unknown field 'CapAdd'/],
  ['NetworkMode host', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { NetworkMode: 'host' }), /unknown field 'NetworkMode'/],
  ['Devices', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { Devices: [{ PathOnHost: '/dev/mem' }] }), /unknown field 'Devices'/],
  ['PidMode host', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PidMode: 'host' }), /unknown field 'PidMode'/],
  ['Mounts', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { Mounts: [{ Type: 'bind', Source: '/', Target: '/h' }] }), /unknown field 'Mounts'/],
  ['HostIp of a binding', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '1' }] } }), /unknown field 'HostIp'/],
  ['Privileged at the top level', (b) => Object.assign(b, { Privileged: true }), /body: unknown field 'Privileged'/],
  ['name with a slash', (b) => Object.assign(b, { instanceNameOnToolbox: '../../etc' }), /instanceNameOnToolbox/],
  ['name with a control character', (b) => Object.assign(b, { instanceNameOnToolbox: 'tool\u0007bell' }), /instanceNameOnToolbox/],
  ['name over 128 characters', (b) => Object.assign(b, { instanceNameOnToolbox: 'n'.repeat(129) }), /instanceNameOnToolbox/],
  ['empty name', (b) => Object.assign(b, { instanceNameOnToolbox: '' }), /instanceNameOnToolbox/],
  ['name of the wrong type', (b) => Object.assign(b, { instanceNameOnToolbox: 42 }), /instanceNameOnToolbox/],
  // GET /tools/status and GET /tools/legacy would shadow it: never readable by name.
  ['name a route shadows (status)', (b) => Object.assign(b, { instanceNameOnToolbox: 'status' }), /instanceNameOnToolbox 'status' cannot be used: GET \/tools\/status is a route of its own/],
  ['name a route shadows (legacy)', (b) => Object.assign(b, { instanceNameOnToolbox: 'legacy' }), /GET \/tools\/legacy is a route of its own/],
  ['upper-case image repository', (b) => Object.assign(b, { dockerImageUrl: 'Busybox:latest' }), /dockerImageUrl/],
  ['image with a space', (b) => Object.assign(b, { dockerImageUrl: 'busybox latest' }), /dockerImageUrl/],
  ['image with a short digest', (b) => Object.assign(b, { dockerImageUrl: 'busybox@sha256:abc' }), /dockerImageUrl/],
  ['id with a newline', (b) => Object.assign(b, { accountToolInstanceId: 'a\nb' }), /accountToolInstanceId/],
  ['env entry without =', (b) => Object.assign(b.baseConfigOverrideJson, { Env: ['NOVALUE'] }), /Env\.0/],
  ['env key with a dash', (b) => Object.assign(b.baseConfigOverrideJson, { Env: ['BAD-KEY=x'] }), /Env\.0/],
  ['env value with NUL', (b) => Object.assign(b.baseConfigOverrideJson, { Env: ['KEY=a\u0000b'] }), /Env\.0/],
  ['env entry over 32 KiB', (b) => Object.assign(b.baseConfigOverrideJson, { Env: [`BIG=${'x'.repeat(32768)}`] }), /Env\.0/],
  ['257 env entries', (b) => Object.assign(b.baseConfigOverrideJson, { Env: Array.from({ length: 257 }, (_, i) => `K${i}=v`) }), /Env/],
  ['env over 256 KiB in all', (b) => Object.assign(b.baseConfigOverrideJson, { Env: Array.from({ length: 9 }, (_, i) => `K${i}=${'v'.repeat(30000)}`) }), /baseConfigOverrideJson: the environment holds \d+ characters in all/],
  ['env over 256 KiB in all, service-shaped', (b) => Object.assign(b.baseConfigOverrideJson, { environmentVariables: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`K${i}`, 'v'.repeat(30000)])) }), /the environment holds \d+ characters in all/],
  ['environmentVariables value an object', (b) => Object.assign(b.baseConfigOverrideJson, { environmentVariables: { K: { nested: true } } }), /environmentVariables\.K/],
  ['resourceLimits below Docker minimum', (b) => Object.assign(b.baseConfigOverrideJson, { resourceLimits: { memory: '1k' } }), /resourceLimits\.memory/],
  ['mcpTransport unknown', (b) => Object.assign(b.baseConfigOverrideJson, { mcpTransport: 'carrier-pigeon' }), /mcpTransport must be one of "stdio", "http", "sse"/],
  ['portMappings not a list', (b) => Object.assign(b.baseConfigOverrideJson, { portMappings: { containerPort: 8080 } }), /portMappings must be array/],
  ['env as a string', (b) => Object.assign(b.baseConfigOverrideJson, { Env: 'KEY=value' }), /Env/],
  ['container port 0', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '0/tcp': [{ HostPort: '1' }] } }), /PortBindings/],
  ['protocol sctp', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '8080/sctp': [{ HostPort: '1' }] } }), /PortBindings/],
  ['host port 70000 as text', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '8080/tcp': [{ HostPort: '70000' }] } }), /PortBindings/],
  ['host port 70000 as a number', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '8080/tcp': [{ HostPort: 70000 }] } }), /HostPort/],
  ['host port as words', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '8080/tcp': [{ HostPort: 'eighty' }] } }), /HostPort/],
  ['the same host port twice', (b) => Object.assign(b.baseConfigOverrideJson.HostConfig, { PortBindings: { '8080/tcp': [{ HostPort: '5' }], '9090/tcp': [{ HostPort: '5' }] } }), /bound twice/],
  ['forcePull as text', (b) => Object.assign(b, { forcePull: 'yes' }), /forcePull/],
  // Fastify's JSON parser refuses a __proto__ key outright.
  ['__proto__ smuggling', (b) => Object.defineProperty(b.baseConfigOverrideJson, '__proto__', { value: { Privileged: true }, enumerable: true }), /not valid JSON/]
]

t.test('hostile deploy bodies: 400 naming the field, Docker untouched', async (t) => {
  const dataDir = tempDir(t)
  const { runtime, calls } = spiedRuntime(dataDir)
  const agent = await startTestAgent(t, { runtime, dataDir })
  const post = (payload: string, contentType = 'application/json') =>
    fetch(`${agent.baseUrl}/tools`, { method: 'POST', headers: { ...authHeaders(), 'content-type': contentType }, body: payload })
  calls.length = 0

  for (const [what, change, names] of cases) {
    const body = valid() as unknown as Body
    change(body)
    const response = await post(JSON.stringify(body))
    const reply = (await response.json()) as ErrorBody
    t.equal(response.status, 400, `${what}: 400`)
    t.ok(Value.Check(ErrorBody, reply), `${what}: contract error body`)
    t.equal(reply.code, 'DTMA_BAD_REQUEST', `${what}: code`)
    t.match(reply.error, names, `${what}: the error names the field (${reply.error.slice(0, 120)})`)
  }

  const huge = await post(JSON.stringify({ ...valid(), instanceNameOnToolbox: 'x'.repeat(2 * 1024 * 1024) }))
  t.equal(huge.status, 413, 'a body over the limit: 413')
  t.match(await huge.json(), { success: false, code: 'DTMA_PAYLOAD_TOO_LARGE' })
  const broken = await post('{"dockerImageUrl": "busybox",')
  t.equal(broken.status, 400, 'malformed JSON: 400')
  const text = await post(JSON.stringify(valid()), 'text/plain')
  t.equal(text.status, 400, 'a wrong content type: 400')
  const traversal = await fetch(`${agent.baseUrl}/tools/..%2F..%2Fetc%2Fpasswd/start`, { method: 'POST', headers: authHeaders() })
  t.equal(traversal.status, 400, 'an encoded slash in a name: 400')

  const longest = await fetch(`${agent.baseUrl}/tools/${encodeURIComponent('\u{1f680}'.repeat(128))}`, { headers: authHeaders() })
  t.equal(longest.status, 404, 'the longest valid name, 4-byte characters percent-encoded, still reaches the route')
  const badEncoding = await fetch(`${agent.baseUrl}/tools/%C3%28/start`, { method: 'POST', headers: authHeaders() })
  t.match(await badEncoding.json(), { success: false, code: 'DTMA_BAD_REQUEST' }, 'a URL that does not decode: the contract error body')

  t.same(calls, [], 'the runtime was not called for any of them')
  t.same(agent.store.list(), [], 'nothing was stored')
})
