// The agent's own TLS certificate: made at first start and kept in the data
// dir (the key mode 0600, both written atomically), made again when it no
// longer names every address of the host or nears its end. Node reads and
// fingerprints X.509 (node:crypto) but cannot write one: node-forge builds
// and signs it (a kept, dependency-free library that needs no global
// polyfill); the RSA key is Node's own, made natively. node-forge is loaded
// when a certificate is made, not at every start (~10 MB of the agent's
// memory for a certificate it keeps and reads with node:crypto).
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import type Forge from 'node-forge'
import { writeFileAtomic } from '../atomic-file.ts'

export const CERT_FILE = 'tls-cert.pem'
export const KEY_FILE = 'tls-key.pem'
/** A certificate lives this long; it is made again a month before its end. */
const LIFETIME_DAYS = 825
const RENEW_BEFORE_MS = 30 * 86_400_000
/** Always named: the CLI and a tunnel on the toolbox itself. */
const ALWAYS = ['127.0.0.1', '::1', 'localhost']
/** docker0, docker_gwbridge, a user network's br-<12 hex>, a container's veth. */
const DOCKER_INTERFACE = /^(?:docker0|docker_gwbridge|br-[0-9a-f]{12}|veth[0-9a-f]+)$/
/** node-forge (CommonJS), loaded at the first certificate made. */
const requireForge = (): typeof Forge => createRequire(import.meta.url)('node-forge') as typeof Forge

export interface TlsMaterial {
  /** PEM certificate (chain) and key. */
  cert: string
  key: string
  /** SHA-256 of the certificate (DER), as `openssl x509 -fingerprint -sha256` prints it. */
  fingerprint: string
  /** The names (DNS) and addresses (IP) the certificate is for. */
  names: string[]
  notAfter: Date
}

/** What a certificate of this host must name: its addresses, loopback, localhost and the extra names of the setting. */
export function wantedNames(extra: readonly string[], interfaces = networkInterfaces()): string[] {
  const addresses = Object.entries(interfaces)
    // Docker's bridges and veths face the containers, not the callers, and come and go with every tool
    // network: naming them would make a new certificate at each restart after a deploy.
    .filter(([name]) => !DOCKER_INTERFACE.test(name))
    .flatMap(([, list]) => list ?? [])
    // A link-local address means nothing without its interface: no caller names it.
    .filter((entry) => !(entry.family === 'IPv6' ? entry.address.toLowerCase().startsWith('fe80:') : entry.address.startsWith('169.254.')))
    .map((entry) => canonical(entry.address))
  return [...new Set([...ALWAYS.map(canonical), ...addresses, ...extra.map(canonical)])].sort()
}

/** The certificate and key of two PEM texts, read (an error names the file, never its content). */
export function materialOf(cert: string, key: string): TlsMaterial {
  const x509 = new X509Certificate(cert)
  return { cert, key, fingerprint: x509.fingerprint256, names: namesOf(x509), notAfter: new Date(x509.validTo) }
}

/** The kept certificate when it still serves `names` at `now`, else a new one written over it. */
export function keptCertificate(dataDir: string, names: readonly string[], now = new Date()): { material: TlsMaterial; made: boolean; reason?: string } {
  const certPath = join(dataDir, CERT_FILE)
  const keyPath = join(dataDir, KEY_FILE)
  let reason: string
  try {
    const kept = materialOf(readFileSync(certPath, 'utf8'), readFileSync(keyPath, 'utf8'))
    const missing = names.filter((name) => !kept.names.includes(name))
    if (missing.length === 0 && kept.notAfter.getTime() - now.getTime() > RENEW_BEFORE_MS) return { material: kept, made: false }
    reason = missing.length > 0 ? `it does not name ${missing.join(', ')}` : 'it nears its end'
  } catch (error) {
    reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'none yet' : 'the kept one cannot be read'
  }
  const made = makeCertificate(names, now)
  // The key first: a certificate on disk always has its key beside it.
  writeFileAtomic(keyPath, made.key, 0o600)
  writeFileAtomic(certPath, made.cert, 0o644)
  return { material: made, made: true, reason }
}

/** 16 random bytes as DER wants an INTEGER: positive (the top bit clear) and minimal (the first byte
 *  never 0). A leading 00 byte made a certificate OpenSSL refuses ("illegal padding"), 1 start in 256.
 *  Unique: a client caches by issuer and serial. */
export function serialNumber(bytes: Buffer = randomBytes(16)): string {
  const serial = Buffer.from(bytes)
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01
  return serial.toString('hex')
}

/** A self-signed server certificate for `names` (RSA 2048, SHA-256), valid from a minute before `now`. */
export function makeCertificate(names: readonly string[], now = new Date(), serial = serialNumber()): TlsMaterial {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' }
  })
  const forge = requireForge()
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey)
  cert.serialNumber = serial
  cert.validity.notBefore = new Date(now.getTime() - 60_000)
  cert.validity.notAfter = new Date(now.getTime() + LIFETIME_DAYS * 86_400_000)
  const subject = [{ name: 'commonName', value: 'DTMA agent' }]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    // An end-entity certificate: a client that pins it as its only anchor accepts it for this server and nothing else.
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((name) => (isIP(name) !== 0 ? { type: 7, ip: name } : { type: 2, value: name })) },
    { name: 'subjectKeyIdentifier' }
  ])
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create())
  // forge ends its PEM lines with CRLF; openssl and Node with LF, as the backend stores it.
  return materialOf(forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'), privateKey)
}

function namesOf(x509: X509Certificate): string[] {
  return (x509.subjectAltName ?? '')
    .split(', ')
    .map((entry) => /^(?:DNS|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((name): name is string => name !== undefined)
    .map(canonical)
}

/** One spelling per address (0:0:0:0:0:0:0:1 and ::1 are one), names in lower case. */
function canonical(name: string): string {
  const trimmed = name.trim()
  if (isIP(trimmed) === 6) return new URL(`http://[${trimmed}]/`).hostname.slice(1, -1)
  return trimmed.toLowerCase()
}
