// Optional TLS: with DTMA_TLS_CERT and DTMA_TLS_KEY the agent serves HTTPS
// (checked with the self-signed certificate made here by openssl) and
// nothing in plain HTTP; one setting without the other is a config error.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
import { request as plainRequest } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { startTestAgent, tempDir, TOKEN } from './helpers/agent.ts'

function httpsGet(port: number, path: string, ca: Buffer | undefined, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const req = request({ host: '127.0.0.1', port, path, headers, ...(ca !== undefined && { ca }) }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('HTTPS with a self-signed certificate; plain HTTP is not served', async (t) => {
  const dir = tempDir(t)
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  const ca = readFileSync(certFile)
  const agent = await startTestAgent(t, { env: { DTMA_TLS_CERT: certFile, DTMA_TLS_KEY: keyFile } })

  t.same(await httpsGet(agent.port, '/health', ca), { status: 200, body: 'OK' }, '/health over HTTPS')
  t.equal((await httpsGet(agent.port, '/tools', ca, TOKEN)).status, 200, 'bearer routes over HTTPS')
  t.equal((await httpsGet(agent.port, '/tools', ca, 'wrong')).status, 401, 'and their auth')
  await t.rejects(httpsGet(agent.port, '/health', undefined), /self[- ]signed/, 'a client that does not trust the certificate refuses it')
  const plain = await new Promise<string>((resolve) => {
    const req = plainRequest({ host: '127.0.0.1', port: agent.port, path: '/health' }, (res) => resolve(`answered ${res.statusCode}`))
    req.on('error', (error) => resolve(`refused: ${error.message}`))
    req.end()
  })
  t.notMatch(plain, /answered 200/, `plain HTTP is not served (${plain})`)
})

t.test('DTMA_TLS_CERT without DTMA_TLS_KEY is a config error', async (t) => {
  t.throws(() => loadConfig({ BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null', DTMA_TLS_CERT: '/x.pem' }), /DTMA_TLS_CERT and DTMA_TLS_KEY go together/)
})
