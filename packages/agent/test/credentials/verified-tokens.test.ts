// The verifier remembers a toolbox token it verified (every MCP call of a
// caller carries the same one), as an attacker would try to use that: the
// token's text changed by one character of its signature or of its claims,
// a token of another secret or audience after a good one was seen, and the
// remembered token itself once its exp has passed (the clock moved). Each
// case prints expected vs seen; the remembered token still gives its own
// grant and no other. The credential check answers a remembered token before
// it hashes the credential against the fleet key and the toolbox's secret:
// neither of those, nor a refused token, is ever remembered.
import { signToolboxToken } from '@dtma/contract'
import t from 'tap'
import { CredentialCheck } from '../../src/credentials/credential-check.ts'
import { CredentialRefusal } from '../../src/credentials/refusal.ts'
import { TokenVerifier } from '../../src/credentials/token-verifier.ts'

const SECRET = 'verified-tokens-secret-0123456789abcdef'
const AUDIENCE = 'dtma:verified-tokens'

t.test('a remembered token opens nothing it did not open, and not after its exp', async (t) => {
  let clock = Date.now()
  const verifier = new TokenVerifier({ secret: SECRET, audience: AUDIENCE, maxLifetimeS: { default: 600, mcp: 86_400 }, clockSkewS: 30, now: () => clock })
  const sign = (options: { secret?: string; audience?: string; scopes?: ('mcp' | 'tools:read')[]; instances?: string[] } = {}) =>
    signToolboxToken(options.secret ?? SECRET, { audience: options.audience ?? AUDIENCE, scopes: options.scopes ?? ['mcp'], lifetimeSeconds: 60, now: clock, ...(options.instances && { instances: options.instances }) })
  const outcome = async (token: string): Promise<string> => {
    try {
      const grant = await verifier.verify(token)
      return `granted ${[...grant.scopes].join(' ')} ${[...(grant.instances ?? [])].join(',') || 'all'}`
    } catch (error) {
      if (error instanceof CredentialRefusal) return `refused: ${error.message}`
      throw error
    }
  }
  const good = await sign({ instances: ['a'] })
  const [header, payload, signature] = good.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  const widened = Buffer.from(JSON.stringify({ ...claims, instances: ['a', 'b'], scope: 'mcp tools:write' })).toString('base64url')
  const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`

  const cases: [string, () => Promise<string>, RegExp][] = [
    ['the good token, first seen', () => outcome(good), /^granted mcp a$/],
    ['the good token again (remembered)', () => outcome(good), /^granted mcp a$/],
    ['its claims widened, its signature kept', () => outcome(`${header}.${widened}.${signature}`), /^refused: .*signature does not verify/],
    ['its signature changed by one character', () => outcome(`${header}.${payload}.${flipped}`), /^refused: .*signature does not verify/],
    ['a token of another secret', async () => outcome(await sign({ secret: 'another-secret-0123456789abcdef0123' })), /^refused: .*signature does not verify/],
    ['a token for another audience', async () => outcome(await sign({ audience: 'dtma:elsewhere' })), /^refused: .*another audience/],
    ['another good token of the same secret: its own grant', async () => outcome(await sign({ scopes: ['tools:read'] })), /^granted tools:read all$/]
  ]
  for (const [name, run, expected] of cases) {
    const seen = await run()
    t.comment(`${name} | expected ${expected} | seen ${seen}`)
    t.match(seen, expected, name)
  }

  // exp is 60 s away and the skew 30 s: 89 s later it still holds, 91 s later it has expired.
  clock += 89_000
  const before = await outcome(good)
  t.comment(`the remembered token 89 s on | expected granted | seen ${before}`)
  t.match(before, /^granted mcp a$/, 'within exp and the skew, the remembered token holds')
  clock += 2_000
  const after = await outcome(good)
  t.comment(`the remembered token 91 s on | expected refused (expired) | seen ${after}`)
  t.match(after, /^refused: .*expired/, 'past exp and the skew, the remembered token is refused as expired')
})

t.test('the credential check answers a remembered token without the digests, and remembers nothing else', async (t) => {
  const fleetKey = 'verified-tokens-fleet-key-0123456789abcdef'
  const check = new CredentialCheck({ secret: SECRET, audience: AUDIENCE, maxLifetimeS: { default: 600, mcp: 86_400 }, clockSkewS: 30, fleetKey, fleetKeyHashes: [], acceptFleetKey: true })
  const good = await signToolboxToken(SECRET, { audience: AUDIENCE, scopes: ['mcp'], lifetimeSeconds: 60 })
  const tampered = `${good.slice(0, -2)}${good.at(-2) === 'A' ? 'B' : 'A'}${good.at(-1)}`
  const seen = (authorization: string): string => {
    const grant = check.remembered(authorization)
    return grant === undefined ? 'not remembered' : `remembered ${grant.source}`
  }
  const outcome = (authorization: string): Promise<string> =>
    check.check(authorization).then(
      (grant) => `granted ${grant.source}`,
      (error: unknown) => `refused: ${(error as Error).message}`
    )
  const cases: [string, () => Promise<string> | string, RegExp][] = [
    ['a good token before any check', () => seen(`Bearer ${good}`), /^not remembered$/],
    ['the good token checked', () => outcome(`Bearer ${good}`), /^granted toolbox-token$/],
    ['the good token after its check', () => seen(`Bearer ${good}`), /^remembered toolbox-token$/],
    ['the same token in another Bearer form', () => seen(`bearer   ${good}`), /^remembered toolbox-token$/],
    ['the fleet key checked', () => outcome(`Bearer ${fleetKey}`), /^granted fleet-key$/],
    ['the fleet key after its check', () => seen(`Bearer ${fleetKey}`), /^not remembered$/],
    ["the toolbox's secret checked", () => outcome(`Bearer ${SECRET}`), /^refused: .*secret, a signing key/],
    ["the toolbox's secret after its check", () => seen(`Bearer ${SECRET}`), /^not remembered$/],
    ['a tampered token checked', () => outcome(`Bearer ${tampered}`), /^refused: .*signature does not verify/],
    ['the tampered token after its check', () => seen(`Bearer ${tampered}`), /^not remembered$/],
    ['the good token as a Basic credential', () => seen(`Basic ${good}`), /^not remembered$/]
  ]
  for (const [name, run, expected] of cases) {
    const result = await run()
    t.comment(`${name} | expected ${expected} | seen ${result}`)
    t.match(result, expected, name)
  }
})
