// The token as the contract defines it: every bearer route names the scopes
// that open it, and what signToolboxToken makes is what jose verifies with the
// same secret, and nothing else does.
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from 'jose'
import t from 'tap'
import { routes, Scope, SCOPES, signingKey, signToolboxToken, toolboxAudience } from '../src/index.ts'

t.test('every bearer route names its scopes, every public one none', async (t) => {
  for (const [name, route] of Object.entries(routes)) {
    if (route.auth === 'bearer') t.ok(route.scope !== undefined && route.scope.length > 0 && route.scope.every((s) => SCOPES.includes(s)), `${name}: ${route.scope?.join(',')}`)
    else t.equal((route as { scope?: unknown }).scope, undefined, `${name}: public, no scope`)
  }
  t.same(routes.redeployAgent.scope, [Scope.agentAdmin], '/redeploy is agent:admin')
  t.same(routes.mcpPost.scope, [Scope.mcp], 'the MCP endpoint is mcp')
})

t.test('a signed token carries what was asked, HS256, and verifies with its secret only', async (t) => {
  const secret = 'a'.repeat(64)
  const now = Date.UTC(2026, 11, 5, 6, 0, 0)
  const token = await signToolboxToken(secret, {
    audience: toolboxAudience('env-1'),
    scopes: [Scope.mcp],
    lifetimeSeconds: 60,
    instances: ['ati-1'],
    tools: { 'ati-1': ['echo', 'add'] },
    subject: 'agent-7',
    now
  })
  t.same(decodeProtectedHeader(token), { alg: 'HS256', typ: 'JWT' })
  const claims = decodeJwt(token)
  t.same(
    { aud: claims.aud, iat: claims.iat, exp: claims.exp, scope: claims.scope, instances: claims.instances, tools: claims.tools, sub: claims.sub },
    { aud: 'dtma:env-1', iat: now / 1000, exp: now / 1000 + 60, scope: 'mcp', instances: ['ati-1'], tools: { 'ati-1': ['echo', 'add'] }, sub: 'agent-7' }
  )
  const verified = await jwtVerify(token, signingKey(secret), { audience: 'dtma:env-1', currentDate: new Date(now + 1000) })
  t.equal(verified.payload.scope, 'mcp')
  await t.rejects(jwtVerify(token, signingKey('b'.repeat(64)), { currentDate: new Date(now) }), errors.JWSSignatureVerificationFailed, 'another secret: refused')
  await t.rejects(signToolboxToken(secret, { audience: 'dtma:x', scopes: [], lifetimeSeconds: 60 }), /at least one scope/)
})
