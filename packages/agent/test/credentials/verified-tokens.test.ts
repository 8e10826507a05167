// The verifier remembers a toolbox token it verified (every MCP call of a
// caller carries the same one), as an attacker would try to use that: the
// token's text changed by one character of its signature or of its claims,
// a token of another secret or audience after a good one was seen, and the
// remembered token itself once its exp has passed (the clock moved). Each
// case prints expected vs seen; the remembered token still gives its own
// grant and no other.
import { signToolboxToken } from '@dtma/contract'
import t from 'tap'
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
