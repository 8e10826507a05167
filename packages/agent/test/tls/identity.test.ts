// The certificate follows the host: when an address appears that the served
// certificate does not name, a check makes a new one, the one-port server
// serves it to new connections at once (a client pinning the old one is
// refused, one pinning the new one is served), and the heartbeat's payload
// carries the new fingerprint and certificate. Given files are never remade.
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { HeartbeatBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { heartbeatPayload } from '../../src/heartbeat/heartbeat-payload.ts'
import { createLogger } from '../../src/logger.ts'
import { CERT_FILE, wantedNames } from '../../src/tls/certificate.ts'
import { createOnePortServer } from '../../src/tls/one-port.ts'
import { TlsIdentity } from '../../src/tls/tls-identity.ts'
import { tempDir } from '../helpers/agent.ts'
import { get } from '../helpers/https.ts'

const logger = createLogger('silent')

t.test('a new address makes a new certificate, served at once and reported by the heartbeat', async (t) => {
  const dataDir = tempDir(t)
  let extra = ['203.0.113.10']
  const identity = new TlsIdentity({ dataDir, extraNames: [], logger, checkIntervalMs: 3_600_000, names: () => wantedNames(extra) })
  const changes: string[] = []
  identity.onChange((material) => changes.push(material.fingerprint))
  const server = createOnePortServer((_request, response) => response.end('served'), {}, identity)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const port = (server.address() as AddressInfo).port
  const before = identity.current()

  t.equal(identity.check(), false, 'the same addresses: no new certificate')
  t.same(await get('https', '127.0.0.1', port, '/', { ca: before.cert }), { status: 200, body: 'served' }, 'HTTPS with the first certificate pinned')
  t.same(await get('http', '127.0.0.1', port, '/'), { status: 200, body: 'served' }, 'plain HTTP on the same port')

  extra = ['203.0.113.10', '198.51.100.9']
  t.equal(identity.check(), true, 'an address the certificate does not name: a new one')
  const after = identity.current()
  t.comment(`fingerprint: ${before.fingerprint} -> ${after.fingerprint}; listeners told: ${changes.length}`)
  t.not(after.fingerprint, before.fingerprint)
  t.same(changes, [after.fingerprint], 'the server was told')
  t.ok(new X509Certificate(readFileSync(join(dataDir, CERT_FILE))).subjectAltName?.includes('IP Address:198.51.100.9'), 'the kept certificate names the new address')
  await t.rejects(get('https', '127.0.0.1', port, '/', { ca: before.cert }), /self[- ]signed|certificate/, 'a client pinning the old certificate is refused')
  t.same(await get('https', '127.0.0.1', port, '/', { ca: after.cert }), { status: 200, body: 'served' }, 'one pinning the new certificate is served, on the same listener')

  const beat = heartbeatPayload('test', [], identity.current())
  t.equal(beat.tls_fingerprint_sha256, after.fingerprint, "the heartbeat carries the new certificate's fingerprint")
  t.equal(beat.tls_certificate_pem, after.cert, 'and the certificate')
  t.ok(Value.Check(HeartbeatBody, beat), 'as the contract says')
})

t.test('given files are served as they are and never remade', async (t) => {
  const dir = tempDir(t)
  const certFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=given', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' })
  const identity = new TlsIdentity({ dataDir: dir, extraNames: ['198.51.100.77'], files: { certFile, keyFile }, logger, checkIntervalMs: 3_600_000 })
  t.equal(identity.current().fingerprint, new X509Certificate(readFileSync(certFile)).fingerprint256)
  t.equal(identity.check(), false, 'a check never replaces a given certificate')
  t.throws(() => new TlsIdentity({ dataDir: dir, extraNames: [], files: { certFile: join(dir, 'none.pem'), keyFile }, logger, checkIntervalMs: 1000 }), /cannot read DTMA_TLS_CERT/)
})
