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

t.test('refuses to start without any token', async (t) => {
  const file = confFile(t, '# nothing here\n')
  const error = t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file })) as unknown
  t.ok(error instanceof ConfigError)
  t.throws(() => loadConfig({ DTMA_CONFIG_FILE: file }), /no API token configured/)
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
  t.same(loadConfig({ DTMA_CONFIG_FILE: file, BACKEND_TO_DTMA_API_KEY: KEY }).apiTokens, [KEY], '32 characters are enough')
})

t.test('defaults follow the contract', async (t) => {
  const config = loadConfig({ DTMA_CONFIG_FILE: confFile(t, ''), BACKEND_TO_DTMA_API_KEY: KEY })
  t.match(config, { port: 30000, host: '0.0.0.0', apiTokens: [KEY], offlineMode: false, publicStatus: 'minimal', tool: { hostIp: '127.0.0.1' } })
})

t.test('/etc/dtma.conf lines are read and the environment wins', async (t) => {
  const file = confFile(t, `DTMA_AUTH_TOKEN="${FILE_TOKEN}"\nAGENTOPIA_API_BASE_URL=https://file.example/functions/v1\nOFFLINE_MODE=true\n# PORT=1\n`)
  const fromFile = loadConfig({ DTMA_CONFIG_FILE: file })
  t.same(fromFile.apiTokens, [FILE_TOKEN])
  t.equal(fromFile.vmToken, FILE_TOKEN)
  t.equal(fromFile.apiBaseUrl, 'https://file.example/functions/v1')
  t.equal(fromFile.offlineMode, true)
  t.equal(fromFile.port, 30000, 'commented lines are ignored')

  const envWins = loadConfig({ DTMA_CONFIG_FILE: file, AGENTOPIA_API_BASE_URL: 'https://env.example', DTMA_BEARER_TOKEN: ENV_TOKEN, BACKEND_TO_DTMA_API_KEY: KEY })
  t.equal(envWins.apiBaseUrl, 'https://env.example')
  t.same(envWins.apiTokens, [KEY, ENV_TOKEN])
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
