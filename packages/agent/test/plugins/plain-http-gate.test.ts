// The plain-HTTP gate, probed as a caller on the network path would: the
// agent listens on every address and is called at one of this host's own
// non-loopback addresses (so the connection does not come from loopback).
// Over plain HTTP only /health, /health/ready, /status and /system without a
// credential, and the fleet key's routes with the fleet key, are served;
// tokens, MCP, logs, admin routes and the documents are refused with a
// sentence saying to use HTTPS. The same calls over HTTPS (the certificate
// pinned), and over plain HTTP from loopback, are served.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { CERT_FILE } from '../../src/tls/certificate.ts'
import { FLEET_KEY, startTestAgent, TOKEN } from '../helpers/agent.ts'
import { get, hostAddress } from '../helpers/https.ts'

interface Probe {
  scheme: 'http' | 'https'
  from: 'network' | 'loopback'
  method: string
  path: string
  credential: 'none' | 'token' | 'fleet key'
  status: number
  /** What the body must say. */
  says?: RegExp
}

const HTTPS_SENTENCE = /Use HTTPS: over plain HTTP this agent serves only/
const MCP_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })

const PROBES: Probe[] = [
  { scheme: 'http', from: 'network', method: 'GET', path: '/health', credential: 'none', status: 200, says: /^OK$/ },
  { scheme: 'http', from: 'network', method: 'GET', path: '/health/ready', credential: 'none', status: 200 },
  { scheme: 'http', from: 'network', method: 'GET', path: '/status', credential: 'none', status: 200, says: /"tool_instances_hidden":true/ },
  { scheme: 'http', from: 'network', method: 'GET', path: '/system', credential: 'none', status: 200 },
  { scheme: 'http', from: 'network', method: 'GET', path: '/status', credential: 'fleet key', status: 200, says: /"network_policy"/ },
  { scheme: 'http', from: 'network', method: 'GET', path: '/tools', credential: 'fleet key', status: 200 },
  { scheme: 'http', from: 'network', method: 'GET', path: '/tools/status', credential: 'fleet key', status: 200 },
  { scheme: 'http', from: 'network', method: 'GET', path: '/status', credential: 'token', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'GET', path: '/tools', credential: 'token', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'GET', path: '/logs', credential: 'token', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'GET', path: '/logs', credential: 'fleet key', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'GET', path: '/tools/x/logs', credential: 'fleet key', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'POST', path: '/redeploy', credential: 'fleet key', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'POST', path: '/restart', credential: 'token', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'GET', path: '/metrics', credential: 'token', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'POST', path: '/tools/x/mcp', credential: 'token', status: 403, says: /"jsonrpc":"2\.0".*Use HTTPS/ },
  { scheme: 'http', from: 'network', method: 'GET', path: '/openapi.json', credential: 'none', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'http', from: 'network', method: 'GET', path: '/no-such-route', credential: 'none', status: 403, says: HTTPS_SENTENCE },
  { scheme: 'https', from: 'network', method: 'GET', path: '/tools', credential: 'token', status: 200 },
  { scheme: 'https', from: 'network', method: 'GET', path: '/logs', credential: 'token', status: 200 },
  { scheme: 'https', from: 'network', method: 'GET', path: '/status', credential: 'token', status: 200, says: /"tls_fingerprint_sha256"/ },
  { scheme: 'https', from: 'network', method: 'GET', path: '/openapi.json', credential: 'none', status: 200 },
  { scheme: 'http', from: 'loopback', method: 'GET', path: '/tools', credential: 'token', status: 200 },
  { scheme: 'http', from: 'loopback', method: 'GET', path: '/logs', credential: 'token', status: 200 }
]

t.test('plain HTTP from the network serves only what is no secret and what the fleet key may do', async (t) => {
  const agent = await startTestAgent(t, { env: { HOST: '0.0.0.0' } })
  const ca = readFileSync(join(agent.dataDir, CERT_FILE), 'utf8')
  const network = hostAddress()
  t.comment(`agent on 0.0.0.0:${agent.port}, called at ${network} (network) and 127.0.0.1 (loopback)`)
  t.comment('scheme from     method path            credential  expected  seen')
  for (const probe of PROBES) {
    const token = probe.credential === 'token' ? TOKEN : probe.credential === 'fleet key' ? FLEET_KEY : undefined
    const answer = await get(probe.scheme, probe.from === 'network' ? network : '127.0.0.1', agent.port, probe.path, {
      ca,
      method: probe.method,
      ...(token !== undefined && { token }),
      ...(probe.path.endsWith('/mcp') && { body: MCP_BODY })
    })
    const saysOk = probe.says === undefined || probe.says.test(answer.body)
    t.comment(
      `${probe.scheme.padEnd(6)} ${probe.from.padEnd(8)} ${probe.method.padEnd(6)} ${probe.path.padEnd(15)} ${probe.credential.padEnd(11)} ${String(probe.status).padEnd(9)} ${answer.status}${saysOk ? '' : ` (body: ${answer.body.slice(0, 160)})`}`
    )
    t.equal(answer.status, probe.status, `${probe.scheme} from ${probe.from}: ${probe.method} ${probe.path} with ${probe.credential}`)
    t.ok(saysOk, `and its body says ${probe.says}`)
    if (token !== undefined) t.notOk(answer.body.includes(token), 'no answer echoes the credential')
  }
})
