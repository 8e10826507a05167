// The credential matrix, as an attacker holding one thing or another would
// try it: two real agent processes (toolbox A trusts an authorization
// server's JWKS, toolbox B does not and has the fleet key turned off), each
// with its own secret and audience (dtma:<environment id>, the product's
// rule), the product's lifetime caps. Every row is a credential on a route
// with the status and sentence expected; each is printed as
// `credential | route | expected | seen` and asserted.
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SCOPES, signToolboxToken, toolboxAudience, type Scope } from '@dtma/contract'
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { FLEET_KEY, freePort, removeInstances, tempDir, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'
import { spawnAgent } from '../helpers/agent-process.ts'

const ISSUER = 'https://auth.test.invalid'
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

/** An authorization server's key set on a local port: what DTMA_JWKS_URL points at. */
async function jwksServer(t: Test) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const sign = (claims: Record<string, unknown>, options: { kid?: string; key?: CryptoKey; issuer?: string; lifetime?: number } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'k1' })
      .setIssuer(options.issuer ?? ISSUER)
      .setIssuedAt()
      .setExpirationTime(now() + (options.lifetime ?? 60))
      .sign(options.key ?? privateKey)
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`, sign, publicPem: await exportSPKI(publicKey) }
}

/** A toolbox whose tokens follow the product's defaults (the helpers' audience and caps are unset). */
async function toolbox(t: Test, env: Record<string, string>) {
  const secret = `secret-${randomBytes(24).toString('hex')}`
  const environmentId = randomUUID()
  const agent = spawnAgent(tempDir(t), await freePort(), {
    DTMA_BEARER_TOKEN: secret,
    ACCOUNT_TOOL_ENVIRONMENT_ID: environmentId,
    DTMA_TOKEN_AUDIENCE: '',
    DTMA_TOKEN_MAX_LIFETIME_S: '',
    DTMA_MCP_TOKEN_MAX_LIFETIME_S: '',
    // Every refusal here comes from 127.0.0.1: the failed-auth limit has its own test (plugins/auth-rate-limit.test.ts).
    DTMA_AUTH_FAILURE_LIMIT: '100000',
    ...env
  })
  t.teardown(() => agent.kill())
  await agent.ready()
  const audience = toolboxAudience(environmentId)
  const token = (scopes: readonly Scope[], extra: { lifetimeSeconds?: number; instances?: string[]; now?: number } = {}) =>
    signToolboxToken(secret, { audience, scopes, lifetimeSeconds: extra.lifetimeSeconds ?? 60, ...(extra.instances && { instances: extra.instances }), ...(extra.now && { now: extra.now }) })
  return { agent, secret, audience, token }
}

t.test('the credential matrix: every refusal for the right reason, every allowed case served', async (t) => {
  const jwks = await jwksServer(t)
  const a = await toolbox(t, { DTMA_JWKS_URL: jwks.url, DTMA_TOKEN_ISSUER: ISSUER })
  const b = await toolbox(t, { DTMA_ACCEPT_FLEET_KEY: 'false' })
  const names = [uniqueName('Matrix X'), uniqueName('Matrix Y')]
  const [x, y] = names as [string, string]
  t.teardown(() => removeInstances(names))
  const ids = { [x]: `ati-x-${randomUUID()}`, [y]: `ati-y-${randomUUID()}` }
  for (const name of names) {
    const deployed = await fetch(`${a.agent.baseUrl}/tools`, {
      method: 'POST',
      headers: { authorization: `Bearer ${FLEET_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: ids[name], baseConfigOverrideJson: { Env: ['MODE=test'] } })
    })
    t.equal(deployed.status, 201, `deploy ${name} with the fleet key`)
  }
  const X = `/tools/${encodeURIComponent(x)}`
  const Y = `/tools/${encodeURIComponent(y)}`
  const all = await a.token(SCOPES)
  const iat = now()
  const alien = `secret-${randomBytes(24).toString('hex')}`
  const credentials: Record<string, string | undefined> = {
    'no credential': undefined,
    'all scopes': all,
    expired: await a.token(SCOPES, { now: Date.now() - 700_000, lifetimeSeconds: 600 }),
    'not yet valid (nbf +5 min)': await new SignJWT({ scope: 'tools:read' }).setProtectedHeader({ alg: 'HS256' }).setAudience(a.audience).setIssuedAt(iat).setNotBefore(iat + 300).setExpirationTime(iat + 400).sign(new TextEncoder().encode(a.secret)),
    'iat in the future (+5 min)': await new SignJWT({ scope: 'tools:read' }).setProtectedHeader({ alg: 'HS256' }).setAudience(a.audience).setIssuedAt(iat + 300).setExpirationTime(iat + 400).sign(new TextEncoder().encode(a.secret)),
    'no exp': await new SignJWT({ scope: 'tools:read' }).setProtectedHeader({ alg: 'HS256' }).setAudience(a.audience).setIssuedAt(iat).sign(new TextEncoder().encode(a.secret)),
    'tools:read for 1 h (cap 600 s)': await a.token(['tools:read'], { lifetimeSeconds: 3600 }),
    'mcp for 1 h (cap 1 day)': await a.token(['mcp'], { lifetimeSeconds: 3600 }),
    'mcp for 2 days': await a.token(['mcp'], { lifetimeSeconds: 2 * 86400 }),
    "toolbox B's token": await b.token(SCOPES),
    "A's key, B's audience": await signToolboxToken(a.secret, { audience: b.audience, scopes: SCOPES, lifetimeSeconds: 60 }),
    'wrong key': await signToolboxToken(alien, { audience: a.audience, scopes: SCOPES, lifetimeSeconds: 60 }),
    'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ aud: a.audience, iat, exp: iat + 60, scope: 'agent:admin' })}.`,
    'HS256 keyed with the JWKS public key': await new SignJWT({ scope: 'agent:admin' }).setProtectedHeader({ alg: 'HS256' }).setAudience(a.audience).setIssuer(ISSUER).setIssuedAt().setExpirationTime(iat + 60).sign(new TextEncoder().encode(jwks.publicPem)),
    'JWKS token tools:read': await jwks.sign({ aud: a.audience, scope: 'tools:read' }),
    'JWKS token, other issuer': await jwks.sign({ aud: a.audience, scope: 'tools:read' }, { issuer: 'https://evil.invalid' }),
    'JWKS token, unpublished key': await jwks.sign({ aud: a.audience, scope: 'tools:read' }, { kid: 'k2', key: (await generateKeyPair('RS256')).privateKey }),
    'mcp only': await a.token(['mcp']),
    'tools:read only': await a.token(['tools:read']),
    'tools:* for X': await a.token(['tools:read', 'tools:write'], { instances: [ids[x] as string] }),
    'mcp for X': await a.token(['mcp'], { instances: [ids[x] as string] }),
    'fleet key': FLEET_KEY,
    "A's raw secret": a.secret,
    'Basic scheme': `Basic ${Buffer.from(`u:${FLEET_KEY}`).toString('base64')}`,
    'not a JWT': 'Bearer-not-a-jwt-0123456789abcdef'
  }
  const header = (label: string): string | undefined => {
    const value = credentials[label]
    return value === undefined ? undefined : label === 'Basic scheme' ? value : `Bearer ${value}`
  }
  type Row = [credential: string, method: string, path: string, status: number, sentence: RegExp, on?: 'B']
  const rows: Row[] = [
    ['no credential', 'GET', '/tools', 401, /Missing or invalid token format/],
    ['all scopes', 'GET', '/tools', 200, /./],
    ['expired', 'GET', '/tools', 401, /expired/],
    ['not yet valid (nbf +5 min)', 'GET', '/tools', 401, /not yet valid/],
    ['iat in the future (+5 min)', 'GET', '/tools', 401, /issued in the future/],
    ['no exp', 'GET', '/tools', 401, /must carry exp and iat/],
    ['tools:read for 1 h (cap 600 s)', 'GET', '/tools', 401, /lifetime .* over the 600 s/],
    ['mcp for 1 h (cap 1 day)', 'POST', `${X}/mcp`, 409, /not an MCP server/],
    ['mcp for 2 days', 'POST', `${X}/mcp`, 401, /lifetime .* over the 86400 s/],
    ["toolbox B's token", 'GET', '/tools', 401, /signature does not verify/],
    ["toolbox B's token", 'GET', '/tools', 200, /./, 'B'],
    ["A's key, B's audience", 'GET', '/tools', 401, /another audience/],
    ['wrong key', 'GET', '/tools', 401, /signature does not verify/],
    ['alg none', 'POST', '/redeploy', 401, /alg none/],
    ['HS256 keyed with the JWKS public key', 'POST', '/redeploy', 401, /signature does not verify/],
    ['JWKS token tools:read', 'GET', '/tools', 200, /./],
    ['JWKS token tools:read', 'GET', '/tools', 401, /trusts no authorization server/, 'B'],
    ['JWKS token tools:read', 'POST', `${X}/stop`, 403, /missing scope: this route needs tools:write/],
    ['JWKS token, other issuer', 'GET', '/tools', 401, /another issuer/],
    ['JWKS token, unpublished key', 'GET', '/tools', 401, /does not publish/],
    ['mcp only', 'GET', '/tools', 403, /missing scope: this route needs tools:read/],
    ['mcp only', 'POST', `${X}/restart`, 403, /needs tools:write/],
    ['mcp only', 'GET', `${X}/logs`, 403, /needs logs:read/],
    ['mcp only', 'GET', '/logs', 403, /needs logs:read/],
    ['mcp only', 'GET', '/metrics', 403, /needs agent:admin/],
    ['mcp only', 'POST', '/restart', 403, /needs agent:admin/],
    ['mcp only', 'POST', '/redeploy', 403, /needs agent:admin/],
    ['mcp only', 'GET', `${X}/capabilities`, 409, /not an MCP server/],
    ['tools:read only', 'POST', `${X}/mcp`, 403, /needs mcp/],
    ['tools:read only', 'POST', '/tools/legacy/anything/adopt', 403, /needs tools:write/],
    ['tools:* for X', 'GET', X, 200, /./],
    ['tools:* for X', 'GET', Y, 403, /instance not granted/],
    ['tools:* for X', 'POST', `${Y}/stop`, 403, /instance not granted/],
    ['tools:* for X', 'GET', '/tools/legacy', 403, /instance not granted/],
    ['mcp for X', 'POST', `${Y}/mcp`, 403, /instance not granted/],
    ['mcp for X', 'POST', `${X}/mcp`, 409, /not an MCP server/],
    ['fleet key', 'GET', '/tools', 200, /./],
    ['fleet key', 'GET', X, 200, /./],
    ['fleet key', 'GET', '/tools/status', 200, /./],
    ['fleet key', 'POST', `${X}/restart`, 200, /./],
    ['fleet key', 'POST', '/redeploy', 403, /fleet key .* may not call this route: it needs agent:admin/],
    ['fleet key', 'POST', '/restart', 403, /fleet key .* may not/],
    ['fleet key', 'GET', '/logs', 403, /fleet key .* needs logs:read/],
    ['fleet key', 'GET', `${X}/logs`, 403, /fleet key .* needs logs:read/],
    ['fleet key', 'GET', '/metrics', 403, /fleet key .* needs agent:admin/],
    ['fleet key', 'POST', `${X}/mcp`, 403, /fleet key .* needs mcp/],
    ['fleet key', 'GET', '/tools', 403, /no longer accepted .*DTMA_ACCEPT_FLEET_KEY is off/, 'B'],
    ["A's raw secret", 'GET', '/tools', 403, /signing key, not a bearer token/],
    ['all scopes', 'POST', '/redeploy', 501, /does not run in a Docker container/],
    ['Basic scheme', 'GET', '/tools', 401, /Missing or invalid token format/],
    ['not a JWT', 'GET', '/tools', 401, /not a token/]
  ]
  for (const [label, method, path, status, sentence, on] of rows) {
    const base = on === 'B' ? b.agent.baseUrl : a.agent.baseUrl
    const auth = header(label)
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { ...(auth !== undefined && { authorization: auth }), ...(path.endsWith('/mcp') && { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }) },
      ...(method === 'POST' && path.endsWith('/mcp') && { body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }) })
    })
    const text = await response.text()
    const said = /"(?:error|message)":\s*"([^"]*)"/.exec(text)?.[1] ?? text.slice(0, 80)
    t.comment(`${label} | ${method} ${path.replace(/%20/g, ' ').replace(/-\d{13}[0-9a-f]{6}/g, '')}${on === 'B' ? ' on B' : ''} | ${status} | ${response.status} ${status >= 400 ? said : ''}`)
    t.equal(response.status, status, `${label}: ${method} ${path}`)
    if (status >= 400 && status !== 404) t.match(said, sentence, `${label}: the sentence says why`)
    if (auth !== undefined && auth.length > 20) t.notOk(text.includes(auth.slice(7)), `${label}: the credential is not echoed`)
  }
})

t.test('lists, /status and /events show a narrowed token only its instances; a token in the query string is refused; the fleet key is counted', async (t) => {
  const a = await toolbox(t, {})
  const names = [uniqueName('Narrow X'), uniqueName('Narrow Y')]
  t.teardown(() => removeInstances(names))
  const ids = names.map(() => `ati-${randomUUID()}`)
  const all = await a.token(SCOPES)
  for (const [i, name] of names.entries()) {
    const reply = await fetch(`${a.agent.baseUrl}/tools`, { method: 'POST', headers: { authorization: `Bearer ${all}`, 'content-type': 'application/json' }, body: JSON.stringify({ dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: ids[i] }) })
    t.equal(reply.status, 201)
  }
  const narrowed = await a.token(['tools:read', 'tools:write'], { instances: [ids[0] as string] })
  const get = async (path: string, token: string) => (await fetch(`${a.agent.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json())) as any
  for (const path of ['/tools', '/tools/status']) {
    const seen = (await get(path, narrowed)).data.map((i: { account_tool_instance_id: string }) => i.account_tool_instance_id)
    t.comment(`tools:* for X | GET ${path} | [X] | ${JSON.stringify(seen.map((id: string) => (id === ids[0] ? 'X' : id === ids[1] ? 'Y' : id)))}`)
    t.same(seen, [ids[0]])
    t.equal((await get(path, all)).data.length, 2, `${path}: an unnarrowed token sees both`)
  }
  const status = (await get('/status', narrowed)).tool_instances.map((i: { account_tool_instance_id: string }) => i.account_tool_instance_id)
  t.same(status, [ids[0]], '/status in full, narrowed')
  const minimal = await get('/status', await a.token(['mcp']))
  t.equal(minimal.tool_instances_hidden, true, '/status: an mcp token is not tools:read, so the public view')
  const events = await fetch(`${a.agent.baseUrl}/events`, { headers: { authorization: `Bearer ${narrowed}` }, signal: AbortSignal.timeout(1500) })
  let text = ''
  try {
    for await (const chunk of events.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(chunk).toString()
  } catch {
    // The timeout ends the stream.
  }
  t.ok(text.includes(ids[0] as string) && !text.includes(ids[1] as string), '/events: only X')
  const outside = await fetch(`${a.agent.baseUrl}/tools`, { method: 'POST', headers: { authorization: `Bearer ${narrowed}`, 'content-type': 'application/json' }, body: JSON.stringify({ dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: uniqueName('Outside'), accountToolInstanceId: 'ati-other' }) })
  t.equal(outside.status, 403, 'a narrowed token deploys no other instance')

  for (const query of [`access_token=${all}`, `token=${all}`, `x=${all}`]) {
    const reply = await fetch(`${a.agent.baseUrl}/tools?${query}`)
    const body = (await reply.json()) as { error: string }
    t.comment(`query ${query.split('=')[0]}=<token> | GET /tools | 401 query string | ${reply.status} ${body.error.slice(0, 60)}`)
    t.equal(reply.status, 401)
    t.match(body.error, /query string .* Authorization: Bearer/)
  }
  t.notOk(a.agent.output().includes(all), 'the token in the URL never reached the log')

  for (let i = 0; i < 3; i++) await fetch(`${a.agent.baseUrl}/tools`, { headers: { authorization: `Bearer ${FLEET_KEY}` } })
  const metrics = await fetch(`${a.agent.baseUrl}/metrics`, { headers: { authorization: `Bearer ${await a.token(['agent:admin'])}` } }).then((r) => r.text())
  const counted = Number(/dtma_fleet_key_uses_total\{route="listTools"\} (\d+)/.exec(metrics)?.[1] ?? -1)
  t.comment(`fleet key x3 | GET /metrics | dtma_fleet_key_uses_total{route="listTools"} 3 | ${counted}`)
  t.equal(counted, 3)
  t.equal(a.agent.output().split('\n').filter((line) => line.includes('the fleet key (BACKEND_TO_DTMA_API_KEY) authenticated requests')).length, 1, 'logged once within the minute')
  t.notOk(a.agent.output().includes(FLEET_KEY) || a.agent.output().includes(a.secret), 'neither the key nor the secret in the log')
})
