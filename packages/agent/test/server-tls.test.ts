// HTTPS by default: the agent makes its certificate at first start (the
// key 0600 in the data dir), keeps it across restarts, names the host's
// addresses in it, serves HTTPS and plain HTTP on one port, says the
// fingerprint in /status to a credential; with DTMA_TLS_CERT and
// DTMA_TLS_KEY it serves those instead.
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { CERT_FILE, KEY_FILE } from '../src/tls/certificate.ts'
import { startTestAgent, tempDir, TOKEN } from './helpers/agent.ts'
import { get, hostAddress } from './helpers/https.ts'
import { hostNetworkLock } from './helpers/netns.ts'

t.test('the agent makes its certificate, keeps it, serves HTTPS and plain HTTP on one port', async (t) => {
  // The network labs of other tests add and remove host addresses: none may come or go between the starts.
  t.teardown(await hostNetworkLock())
  const dataDir = tempDir(t)
  const first = await startTestAgent(t, { dataDir, env: { DTMA_TLS_NAMES: 'toolbox.example, 203.0.113.7' } })
  const certPem = readFileSync(join(dataDir, CERT_FILE), 'utf8')
  const cert = new X509Certificate(certPem)
  const keyMode = statSync(join(dataDir, KEY_FILE)).mode & 0o777
  t.comment(`key mode: expected 600, seen ${keyMode.toString(8)}; names: ${cert.subjectAltName}`)
  t.equal(keyMode, 0o600, 'the key is readable by the agent alone')
  for (const name of ['IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', 'DNS:localhost', `IP Address:${hostAddress()}`, 'DNS:toolbox.example', 'IP Address:203.0.113.7']) {
    t.ok(cert.subjectAltName?.split(', ').includes(name), `the certificate names ${name}`)
  }
  t.equal(cert.ca, false, 'an end-entity certificate, not a CA')

  t.same(await get('https', '127.0.0.1', first.port, '/health', { ca: certPem }), { status: 200, body: 'OK' }, '/health over HTTPS, the certificate pinned')
  t.same(await get('https', 'localhost', first.port, '/health', { ca: certPem }), { status: 200, body: 'OK' }, 'by the name localhost too')
  t.same(await get('http', '127.0.0.1', first.port, '/health'), { status: 200, body: 'OK' }, 'and plain HTTP on the same port')
  await t.rejects(get('https', '127.0.0.1', first.port, '/health'), /self[- ]signed/, 'a client that does not trust the certificate refuses it')

  const withToken = JSON.parse((await get('https', '127.0.0.1', first.port, '/status', { ca: certPem, token: TOKEN })).body) as { tls_fingerprint_sha256?: string }
  const withoutToken = JSON.parse((await get('https', '127.0.0.1', first.port, '/status', { ca: certPem })).body) as { tls_fingerprint_sha256?: string }
  t.comment(`/status fingerprint: expected ${cert.fingerprint256}, seen ${withToken.tls_fingerprint_sha256}; without a credential: ${withoutToken.tls_fingerprint_sha256}`)
  t.equal(withToken.tls_fingerprint_sha256, cert.fingerprint256, '/status says the fingerprint to a credential')
  t.equal(withoutToken.tls_fingerprint_sha256, undefined, 'and not without one')
  await first.app.close()

  const second = await startTestAgent(t, { dataDir, env: { DTMA_TLS_NAMES: 'toolbox.example,203.0.113.7' } })
  t.equal(new X509Certificate(readFileSync(join(dataDir, CERT_FILE))).fingerprint256, cert.fingerprint256, 'a restart keeps the certificate')
  t.same(await get('https', '127.0.0.1', second.port, '/health', { ca: certPem }), { status: 200, body: 'OK' }, 'and serves it')
  await second.app.close()

  const third = await startTestAgent(t, { dataDir, env: { DTMA_TLS_NAMES: 'toolbox.example,203.0.113.8' } })
  const remade = new X509Certificate(readFileSync(join(dataDir, CERT_FILE)))
  t.comment(`a name not in the certificate: ${cert.fingerprint256} -> ${remade.fingerprint256}`)
  t.not(remade.fingerprint256, cert.fingerprint256, 'a name it lacks makes a new certificate')
  await t.rejects(get('https', '127.0.0.1', third.port, '/health', { ca: certPem }), /self[- ]signed|certificate/, 'which a client pinning the old one refuses')
})

t.test('DTMA_TLS_CERT and DTMA_TLS_KEY: the given certificate is served, nothing made', async (t) => {
  const dir = tempDir(t)
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  const ca = readFileSync(certFile)
  const agent = await startTestAgent(t, { env: { DTMA_TLS_CERT: certFile, DTMA_TLS_KEY: keyFile } })
  t.same(await get('https', '127.0.0.1', agent.port, '/health', { ca }), { status: 200, body: 'OK' }, '/health over HTTPS with the given certificate')
  t.equal((await get('https', '127.0.0.1', agent.port, '/tools', { ca, token: TOKEN })).status, 200, 'bearer routes over HTTPS')
  t.equal((await get('https', '127.0.0.1', agent.port, '/tools', { ca, token: 'wrong' })).status, 401, 'and their auth')
  t.throws(() => statSync(join(agent.dataDir, CERT_FILE)), /ENOENT/, 'no certificate of its own is made')
  const status = JSON.parse((await get('https', '127.0.0.1', agent.port, '/status', { ca, token: TOKEN })).body) as { tls_fingerprint_sha256?: string }
  t.equal(status.tls_fingerprint_sha256, new X509Certificate(ca).fingerprint256, "/status says the given certificate's fingerprint")
})

t.test('DTMA_TLS_CERT without DTMA_TLS_KEY is a config error', async (t) => {
  t.throws(() => loadConfig({ BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null', DTMA_TLS_CERT: '/x.pem' }), /DTMA_TLS_CERT and DTMA_TLS_KEY go together/)
})
