// Generators of malformed and hostile requests for the fuzz suite, driven by a
// seeded PRNG so a failing run replays exactly (DTMA_FUZZ_SEED). Every deploy
// body carries at least one change that makes it invalid: a hostile request
// must never deploy anything, so the agent's containers and rows stay as they
// were. Its image is absent locally, a tripwire: a body that slipped through
// validation would try a pull and answer 502, which the suite counts as a failure.

/** mulberry32: tiny, fast, good enough to spread inputs; the seed replays a run. */
export function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let x = state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

export class Dice {
  constructor(private readonly random: () => number) {}
  int(max: number): number {
    return Math.floor(this.random() * max)
  }
  chance(p: number): boolean {
    return this.random() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T
  }
  text(length: number, alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_./:=%\\\'"<>{}[]\u00e9\u4e2d\u{1f680}\u202e\u0000\u0007\n\r\t'): string {
    const chars = [...alphabet]
    let out = ''
    for (let i = 0; i < length; i++) out += this.pick(chars)
    return out
  }
}

export const TRIPWIRE_IMAGE = 'dtma-fuzz/absent-image:never'

// ---- deploy bodies ---------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type DeployLike = { [key: string]: Json } & { baseConfigOverrideJson: { [key: string]: Json } & { HostConfig: { [key: string]: Json } } }

export function randomJson(dice: Dice, depth = 0): Json {
  const kind = dice.int(depth > 3 ? 4 : 6)
  if (kind === 0) return null
  if (kind === 1) return dice.chance(0.5)
  if (kind === 2) return dice.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1, 65536, 8080])
  if (kind === 3) return dice.text(dice.chance(0.05) ? 5000 : dice.int(40))
  if (kind === 4) return Array.from({ length: dice.int(5) }, () => randomJson(dice, depth + 1))
  const object: { [key: string]: Json } = {}
  for (let i = dice.int(5); i > 0; i--) object[dice.pick(['Env', 'HostConfig', 'a', 'constructor', 'prototype', dice.text(6)])] = randomJson(dice, depth + 1)
  return object
}

const FORBIDDEN_FIELDS = ['Privileged', 'Binds', 'CapAdd', 'NetworkMode', 'Devices', 'PidMode', 'IpcMode', 'Mounts', 'SecurityOpt', 'UsernsMode', 'Cmd', 'Entrypoint', 'User', 'Volumes', 'Sysctls', 'CgroupParent', 'Runtime']
const BAD_NAMES: Json[] = ['', 'a/b', '..\\..\\x', '../../etc/passwd', 'tab\there', 'nul\u0000', 'del\u007f', 'n'.repeat(129), 42, null, ['x'], { name: 'x' }, true]
const BAD_IMAGES: Json[] = ['', 'UPPER/case', 'with space', 'a:b:c', '-lead', 'x@sha256:short', 'i'.repeat(600), 'repo/', '../x', 7, null, {}]
const BAD_IDS: Json[] = ['', 'a\nb', 'x'.repeat(129), 1, null, []]
const BAD_ENV: Json[] = ['K=v', [1], [null], ['=v'], ['1K=v'], ['K'], ['K K=v'], ['K=a\u0000b'], [`K=${'v'.repeat(32768)}`], Array.from({ length: 257 }, (_, i) => `K${i}=v`), {}]
const BAD_BINDINGS: Json[] = [
  { '0/tcp': [{ HostPort: '1' }] },
  { '8080/sctp': [{ HostPort: '1' }] },
  { '8080/tcp': [{ HostPort: '70000' }] },
  { '8080/tcp': [{ HostPort: -1 }] },
  { '8080/tcp': [{ HostPort: 1.5 }] },
  { '8080/tcp': [{ HostPort: true }] },
  { '8080/tcp': [{ HostPort: 'x' }] },
  { '8080/tcp': [{ HostPort: '1', HostIp: '0.0.0.0' }] },
  { '8080/tcp': [] },
  { '8080/tcp': Array.from({ length: 5 }, (_, i) => ({ HostPort: String(40000 + i) })) },
  { 'abc': [{ HostPort: '1' }] },
  { '8080/tcp': [{ HostPort: '5' }], '9090/tcp': [{ HostPort: '5' }] },
  []
]

/** Changes that each make a deploy body invalid. */
const INVALIDATE: Array<(dice: Dice, body: DeployLike) => void> = [
  (dice, b) => (b.baseConfigOverrideJson[dice.pick(FORBIDDEN_FIELDS)] = randomJson(dice)),
  (dice, b) => (b.baseConfigOverrideJson.HostConfig[dice.pick(FORBIDDEN_FIELDS)] = dice.pick([true, 'host', ['/:/host'], [{ PathOnHost: '/dev/mem' }]])),
  (dice, b) => (b[dice.pick(FORBIDDEN_FIELDS)] = true),
  (dice, b) => (b.instanceNameOnToolbox = dice.pick(BAD_NAMES)),
  (dice, b) => (b.dockerImageUrl = dice.pick(BAD_IMAGES)),
  (dice, b) => (b.accountToolInstanceId = dice.pick(BAD_IDS)),
  (dice, b) => (b.baseConfigOverrideJson.Env = dice.pick(BAD_ENV)),
  (dice, b) => (b.baseConfigOverrideJson.HostConfig.PortBindings = dice.pick(BAD_BINDINGS)),
  (dice, b) => delete b[dice.pick(['dockerImageUrl', 'instanceNameOnToolbox', 'accountToolInstanceId'])],
  (dice, b) => (b.baseConfigOverrideJson = dice.pick([[], 'str', 5, true]) as never),
  (dice, b) => (b.baseConfigOverrideJson.environmentVariables = dice.pick<Json>([['A=b'], 'A=b', { 'BAD KEY': 'x' }, { K: { nested: 1 } }, { K: null }, { K: 'a\u0000b' }])),
  (dice, b) => (b.baseConfigOverrideJson.portMappings = dice.pick<Json>([{ containerPort: 8080 }, [{}], [{ containerPort: 0 }], [{ containerPort: '0' }], [{ containerPort: 8080, hostPort: 70000 }], [{ containerPort: 8080, hostPort: '7e4' }], [{ containerPort: 8080, extra: 1 }], [{ containerPort: 8080, protocol: 'sctp' }]])),
  (dice, b) => (b.baseConfigOverrideJson.resourceLimits = dice.pick<Json>([{ memory: '1k' }, { memory: 'lots' }, { memory: -1 }, { cpus: 0 }, { cpu: '0.001' }, { pids: 0 }, 'big', []])),
  (dice, b) => (b.baseConfigOverrideJson.mcpTransport = dice.pick<Json>(['websocket', 'STDIO', 1, {}])),
  (dice, b) => {
    const [key, bad] = dice.pick<[string, Json[]]>([
      ['mcpEndpoint', ['no-slash', {}, `/${'x'.repeat(600)}`]],
      ['mcpPort', [70000, 'abc', {}]],
      ['mcpCapabilities', ['tools', {}, [1]]],
      ['dockerImage', [{}, 70000, 'x'.repeat(600)]]
    ])
    b.baseConfigOverrideJson[key] = dice.pick(bad)
  },
  (dice, b) => (b.forcePull = dice.pick(['true', 1, null, {}])),
  (dice, b) => (b[`unknown_${dice.text(4, 'abcdef')}`] = randomJson(dice)),
  // Over the body limit (1 MiB by default): 413.
  (dice, b) => (b.baseConfigOverrideJson.Env = [`BIG=${'x'.repeat(1024 * 1024 + dice.int(1000))}`])
]

/** Changes that keep a body valid, to spread the inputs around the invalid one;
 *  the sloppiness Agentopia's real callers send is among them. */
const NOISE: Array<(dice: Dice, body: DeployLike) => void> = [
  (dice, b) => (b.baseConfigOverrideJson.HostConfig.PortBindings = { '8080/tcp': [{ HostPort: dice.pick<Json>(['30000', 30000, '', 0, null]) }] }),
  (dice, b) => (b.baseConfigOverrideJson.environmentVariables = { API_KEY: dice.text(dice.int(20)).replace(/\u0000/g, ''), RETRIES: dice.int(5), VERBOSE: dice.chance(0.5) }),
  (dice, b) => (b.baseConfigOverrideJson.portMappings = [{ containerPort: dice.pick<Json>([8080, '8080']), ...(dice.chance(0.7) && { hostPort: dice.pick<Json>([30000, '30000', '', 0, null]) }) }]),
  (dice, b) => Object.assign(b.baseConfigOverrideJson, { dockerImage: 'default-mcp-server:latest', mcpTransport: 'stdio', mcpCapabilities: ['tools'], mcpEndpoint: '/mcp', mcpPort: 8080, templateId: dice.int(100), environment: 'development', configuration: {} }),
  (dice, b) => (b.baseConfigOverrideJson.resourceLimits = { memory: dice.pick(['256Mi', '512m', '2g']), cpu: dice.pick(['0.2', '1']), storage: '1Gi' }),
  (dice, b) => (b.baseConfigOverrideJson[dice.pick(['scaling', 'templateName', 'notes'])] = randomJson(dice)),
  (_dice, b) => (b.baseConfigOverrideJson.Env = null),
  (dice, b) => (b.instanceNameOnToolbox = `Fuzz ${dice.text(1 + dice.int(20), 'abcXYZ 019-_.\u00e9\u4e2d\u{1f680}\u202e')}`),
  (dice, b) => (b.baseConfigOverrideJson.Env = Array.from({ length: dice.int(5) }, (_, i) => `KEY_${i}=${dice.text(dice.int(30)).replace(/\u0000/g, '')}`)),
  (dice, b) => (b.baseConfigOverrideJson.HostConfig.PortBindings = { [`${1 + dice.int(65535)}/${dice.pick(['tcp', 'udp'])}`]: [{ HostPort: String(40000 + dice.int(20000)) }] }),
  (dice, b) => (b.forcePull = dice.chance(0.5))
]

export function hostileDeployBody(dice: Dice): { body: string; invalidation: number } {
  const body: DeployLike = {
    dockerImageUrl: TRIPWIRE_IMAGE,
    instanceNameOnToolbox: `Fuzz Target ${dice.int(1e9)}`,
    accountToolInstanceId: `ati-fuzz-${dice.int(1e9)}`,
    baseConfigOverrideJson: { Env: ['MODE=fuzz'], HostConfig: { PortBindings: {} } }
  }
  for (let i = dice.int(3); i > 0; i--) dice.pick(NOISE)(dice, body)
  const invalidation = dice.int(INVALIDATE.length)
  ;(INVALIDATE[invalidation] as (typeof INVALIDATE)[number])(dice, body)
  return { body: JSON.stringify(body), invalidation }
}

// ---- paths, headers, raw requests ------------------------------------------------

const HOSTILE_SEGMENTS = [
  '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f%2e%2e%2f', '..', '.', '%2F', 'a%2Fb', '%5C..%5C', '%00', 'nul%00byte', '%ZZ', '%', '%C3%28', '%FF%FE',
  '%F0%9F%9A%80%20rocket', '%E2%80%AE%20rtl', 'plus+name', '%252F', 'Context7%20MCP%20Server-1750278276605', 'x'.repeat(300), 'y'.repeat(6000),
  '%7B%22a%22%3A1%7D', '*', '~', ';', '%0D%0ASet-Cookie%3A%20x', 'name%3Fq%3D1', 'name%23frag'
]
const ACTIONS = ['', '/start', '/stop', '/restart', '/mcp', '/capabilities', '/logs', '/logs?tail=-1', '/logs?tail=abc', '/logs?follow=maybe', '/logs?since=1e99', '/logs?tail=1&tail=2', '/unknown', '/start/', '/%2e%2e']
// Not POST /restart: a valid one ends the process under test, by design; nor
// POST /redeploy, which upgrades the agent when it runs in a container. Both
// have their own tests.
const FIXED_PATHS = ['/', '/tools', '/tools/', '/tools//start', '/tools/status', '/status', '/status?x=%00', '/health', '/health/ready', '/metrics', '/openapi.json', '/docs', '/system', '/logs', '/logs?tail=3', '/logs?tail=-1', '/logs?tail=x', '/logs?follow=true', '/logs?follow=1&tail=2', '/logs?bogus=1', '/events?name=', '/events?name=%00', '/events?bogus=1', '/events?name=a&name=b', '//tools', '/TOOLS', '/tools/%2e%2e/status', '/.env', '/../../etc/passwd', '/tools?' + 'q'.repeat(3000)]
export const METHODS = ['GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD']

export function hostilePath(dice: Dice): string {
  if (dice.chance(0.3)) return dice.pick(FIXED_PATHS)
  return `/tools/${dice.pick(HOSTILE_SEGMENTS)}${dice.pick(ACTIONS)}`
}

export function authorization(dice: Dice, token: string): string | string[] | undefined {
  return dice.pick([
    `Bearer ${token}`,
    `Bearer ${token}`,
    undefined,
    'Bearer',
    'Bearer ',
    `bearer ${token}`,
    `Basic ${Buffer.from(`u:${token}`).toString('base64')}`,
    `Bearer ${token}x`,
    `Bearer ${token.slice(0, -1)}`,
    `Bearer ${'A'.repeat(4000)}`,
    `Bearer \u00e9\u00e9`,
    [`Bearer ${token}`, 'Bearer wrong']
  ])
}

export const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', '', 'application/octet-stream', 'APPLICATION/JSON']

/** Requests Node's HTTP parser sees first: smuggling shapes, bad framing,
 *  oversized or broken headers, garbage. Each asks the server to close. */
export function rawRequest(dice: Dice, port: number, token: string): string {
  const host = `Host: 127.0.0.1:${port}\r\n`
  const auth = `Authorization: Bearer ${token}\r\n`
  const json = '{"a":1}'
  return dice.pick([
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 7\r\nContent-Length: 9\r\nConnection: close\r\n\r\n${json}`,
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\nConnection: close\r\n\r\n7\r\n${json}\r\n0\r\n\r\n`,
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\n${json}\r\n0\r\n\r\n`,
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`,
    `GET /tools HTTP/1.1\r\n${host}${auth}Authorization: Bearer wrong\r\nConnection: close\r\n\r\n`,
    `GET /tools HTTP/1.1\r\n${host}Authorization: Bearer wrong\r\n${auth}Connection: close\r\n\r\n`,
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 7\r\nConnection: close\r\n\r\n${json}`,
    `GET /tools HTTP/1.1\r\n${host}X-Big: ${'h'.repeat(20000)}\r\nConnection: close\r\n\r\n`,
    `GET /tools HTTP/1.1\r\n${host}${Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nConnection: close\r\n\r\n`,
    `GET /tools/a b/start HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`,
    `GET /tools/\u0001/start HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`,
    `GE\u0000T /health HTTP/1.1\r\n${host}Connection: close\r\n\r\n`,
    `GET /health HTTP/9.9\r\n${host}Connection: close\r\n\r\n`,
    `GET /health\r\n\r\n`,
    `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
    `GET /health HTTP/1.1\r\nConnection: close\r\n\r\n`,
    `GET /health HTTP/1.1\r\n${host}Bad Header\r\nConnection: close\r\n\r\n`,
    `GET /health HTTP/1.1\r\n${host}X-Split: a\rb\r\nConnection: close\r\n\r\n`,
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n`,
    `POST /tools HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n`,
    `${dice.text(200)}\r\n\r\n`,
    `\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003`
  ])
}

// ---- the MCP endpoint ------------------------------------------------------------

const MCP_METHODS = ['initialize', 'tools/list', 'tools/call', 'ping', 'resources/list', 'prompts/list', 'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'logging/setLevel', 'completion/complete', 'sampling/createMessage', 'x/unknown', '']
const ACCEPTS = ['application/json, text/event-stream', 'application/json, text/event-stream', 'application/json', 'text/event-stream', '*/*', '', 'text/html']
const PROTOCOL_VERSIONS: Array<string | undefined> = [undefined, undefined, '2025-06-18', '2025-11-25', '1999-01-01', 'x'.repeat(300), '']

function jsonRpcMessage(dice: Dice): Json {
  const method = dice.pick(MCP_METHODS)
  const message: { [key: string]: Json } = { jsonrpc: dice.chance(0.9) ? '2.0' : dice.pick<Json>(['1.0', 2, null]) }
  if (dice.chance(0.8)) message.id = dice.pick<Json>([1, 2, 'a', 0, -1, 2 ** 53, 'x'.repeat(300), null, {}, 1.5])
  if (method !== '' || dice.chance(0.5)) message.method = method
  if (method === 'initialize') message.params = { protocolVersion: dice.pick(['2025-06-18', '2025-11-25', 'old']), capabilities: dice.chance(0.8) ? {} : randomJson(dice), clientInfo: { name: 'fuzz', version: '1' } }
  else if (method === 'tools/call') message.params = { name: dice.pick(['echo', 'add', 'nope', '']), arguments: dice.chance(0.7) ? { text: dice.text(dice.int(50)) } : randomJson(dice), ...(dice.chance(0.3) && { _meta: { progressToken: dice.pick<Json>([1, 'p', null, {}]) } }) }
  else if (dice.chance(0.5)) message.params = randomJson(dice)
  if (dice.chance(0.1)) message.result = randomJson(dice)
  if (dice.chance(0.05)) message.error = { code: dice.int(40000) - 33000, message: dice.text(10) }
  return message
}

/** A request to an MCP instance's endpoint: sessions real or made up, headers right or wrong, bodies valid or not. */
export function hostileMcpRequest(dice: Dice, sessions: readonly string[]): { method: string; headers: Record<string, string>; body: string | undefined } {
  const method = dice.pick(['POST', 'POST', 'POST', 'POST', 'GET', 'DELETE', 'PUT'])
  const headers: Record<string, string> = { accept: dice.pick(ACCEPTS) }
  if (dice.chance(0.7)) headers['mcp-session-id'] = dice.chance(0.7) && sessions.length > 0 ? dice.pick(sessions) : dice.pick(['00000000-0000-0000-0000-000000000000', dice.text(20).replace(/[\u0000-\u001f\u007f-\uffff]/g, 'x'), ''])
  const version = dice.pick(PROTOCOL_VERSIONS)
  if (version !== undefined) headers['mcp-protocol-version'] = version
  if (dice.chance(0.1)) headers.origin = dice.pick(['http://evil.example', 'null', 'http://127.0.0.1'])
  if (method !== 'POST') return { method, headers, body: undefined }
  headers['content-type'] = dice.chance(0.9) ? 'application/json' : dice.pick(CONTENT_TYPES)
  const roll = dice.int(10)
  const body = roll < 6 ? jsonRpcMessage(dice) : roll < 8 ? Array.from({ length: dice.pick([0, 1, 2, 5, 101]) }, () => jsonRpcMessage(dice)) : roll < 9 ? randomJson(dice) : undefined
  return { method, headers, body: body === undefined ? dice.pick(['', '{', '{"jsonrpc":"2.0",', '[]', 'null']) : JSON.stringify(body) }
}
