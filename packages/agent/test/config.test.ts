import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig, parseConfFile } from '../src/config.ts'
import { tempDir } from './helpers/agent.ts'

function confFile(t: Parameters<typeof tempDir>[0], text: string): string {
  const path = join(tempDir(t), 'dtma.conf')
  writeFileSync(path, text)
  return path
}

t.test('refuses to start without any credential it could check', async (t) => {
  const file = confFile(t, '# nothing here\n')
  const error = t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file })) as unknown
  t.ok(error instanceof ConfigError)
  t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file }), /no credential configured/)
  t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file, BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_ACCEPT_FLEET_KEY: 'false' }), /no credential configured/, 'a fleet key that is not accepted is none')
})

t.test('token settings: an authorization server comes with its issuer and an audience', async (t) => {
  const file = confFile(t, '')
  const base = { DTMA_CONFIG_FILE: file, DTMA_BEARER_TOKEN: ENV_TOKEN }
  t.throws(() => loadConfig({ ...base, DTMA_JWKS_URL: 'https://auth.example/jwks' }), /DTMA_JWKS_URL and DTMA_TOKEN_ISSUER go together/)
  t.throws(() => loadConfig({ ...base, DTMA_JWKS_URL: 'https://auth.example/jwks', DTMA_TOKEN_ISSUER: 'https://auth.example' }), /needs DTMA_TOKEN_AUDIENCE or ACCOUNT_TOOL_ENVIRONMENT_ID/)
  const config = loadConfig({ ...base, DTMA_JWKS_URL: 'https://auth.example/jwks', DTMA_TOKEN_ISSUER: 'https://auth.example', DTMA_TOKEN_AUDIENCE: 'dtma:box', DTMA_TOKEN_MAX_LIFETIME_S: '120', DTMA_ACCEPT_FLEET_KEY: 'false' })
  t.match(config.tokens, { audience: 'dtma:box', jwks: { url: 'https://auth.example/jwks', issuer: 'https://auth.example' }, maxLifetimeS: { default: 120, mcp: 86400 }, acceptFleetKey: false })
})

// Tokens of the shortest length the config accepts.
const KEY = 'backend-key-0123456789abcdef0123'
const FILE_TOKEN = 'file-token-0123456789abcdef01234'
const ENV_TOKEN = 'env-token-0123456789abcdef012345'

t.test('tokens shorter than 32 characters are refused at start, by name, never by value', async (t) => {
  const file = confFile(t, '')
  for (const setting of ['BACKEND_TO_DTMA_API_KEY', 'DTMA_BEARER_TOKEN', 'DTMA_AUTH_TOKEN']) {
    const short = 'x'.repeat(31)
    const error = t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file, BACKEND_TO_DTMA_API_KEY: KEY, [setting]: short })) as unknown as Error
    t.ok(error instanceof ConfigError, setting)
    t.equal(error.message, `${setting} is too short (31 characters): an API token needs at least 32; make one with \`openssl rand -hex 32\``)
    t.notMatch(error.message, short)
  }
  t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file, BACKEND_TO_DTMA_API_KEY: 'k' }), /BACKEND_TO_DTMA_API_KEY is too short \(1 characters\)/, 'a one-character token')
  t.throws(() => loadConfig({ DTMA_CONFIG_FILE: confFile(t, 'DTMA_AUTH_TOKEN=short\n') }), /DTMA_AUTH_TOKEN is too short \(5 characters\)/, 'also from /etc/dtma.conf')
  t.equal(loadConfig({ DTMA_CONFIG_FILE: file, BACKEND_TO_DTMA_API_KEY: KEY }).backendApiKey, KEY, '32 characters are enough')
})

t.test('defaults follow the contract', async (t) => {
  const config = loadConfig({ DTMA_CONFIG_FILE: confFile(t, ''), BACKEND_TO_DTMA_API_KEY: KEY })
  t.match(config, { port: 30000, host: '0.0.0.0', backendApiKey: KEY, tokens: { maxLifetimeS: { default: 600, mcp: 86400 }, clockSkewS: 30, acceptFleetKey: true }, offlineMode: false, publicStatus: 'minimal', tool: { hostIp: '127.0.0.1' } })
})

t.test('/etc/dtma.conf lines are read and the environment wins', async (t) => {
  const file = confFile(t, `DTMA_AUTH_TOKEN="${FILE_TOKEN}"\nAGENTOPIA_API_BASE_URL=https://file.example/functions/v1\nOFFLINE_MODE=true\n# PORT=1\n`)
  const fromFile = loadConfig({ DTMA_CONFIG_FILE: file })
  t.equal(fromFile.vmToken, FILE_TOKEN)
  t.equal(fromFile.apiBaseUrl, 'https://file.example/functions/v1')
  t.equal(fromFile.offlineMode, true)
  t.equal(fromFile.port, 30000, 'commented lines are ignored')

  const envWins = loadConfig({ DTMA_CONFIG_FILE: file, AGENTOPIA_API_BASE_URL: 'https://env.example', DTMA_BEARER_TOKEN: ENV_TOKEN, BACKEND_TO_DTMA_API_KEY: KEY })
  t.equal(envWins.apiBaseUrl, 'https://env.example')
  t.equal(envWins.vmToken, ENV_TOKEN)
  t.equal(envWins.backendApiKey, KEY)
})

t.test('invalid settings are named without echoing values', async (t) => {
  const file = confFile(t, '')
  const error = t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file, BACKEND_TO_DTMA_API_KEY: 'sekrit-value-0123456789abcdef0123', PORT: 'not-a-port', DTMA_PUBLIC_STATUS: 'loud' })) as unknown as Error
  t.match(error.message, /PORT/)
  t.match(error.message, /DTMA_PUBLIC_STATUS/)
  t.notMatch(error.message, /sekrit-value/)
})

t.test('a named config file that cannot be read is an error; the default one may be absent', async (t) => {
  t.throws(() => loadConfig({ DTMA_CONFIG_FILE: '/nonexistent/dtma.conf', BACKEND_TO_DTMA_API_KEY: KEY }), /cannot read config file/)
  t.same(parseConfFile("A=1\n  B = two words \nC='q'\nbad line\n"), { A: '1', B: 'two words', C: 'q' })
})
