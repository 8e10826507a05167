// Heartbeats against a stand-in of the backend's heartbeat function (204 for
// the per-VM token, 401 otherwise): the contract's payload with enum-valid
// statuses, the configured path and interval, one log line per outage (not
// per tick) and one on recovery, the certificate the agent serves, and
// nothing at all in OFFLINE_MODE.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { HeartbeatBody } from '@dtma/contract'
import t from 'tap'
import { Value } from 'typebox/value'
import { CERT_FILE } from '../../src/tls/certificate.ts'
import { freePort, startTestAgent, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { waitFor } from '../helpers/wait.ts'

const ENUM = ['pending_install', 'installing', 'active', 'error_install', 'pending_uninstall', 'uninstalling', 'uninstalled', 'error_uninstall', 'pending_config', 'stopped', 'starting', 'stopping', 'error_runtime', 'disabled', 'pending_deploy', 'deploying', 'running', 'error', 'pending_delete', 'deleting']

interface Beat {
  path: string
  status: number
  body: HeartbeatBody
}

async function heartbeatFunction(t: { teardown(fn: () => unknown): void }, path: string) {
  const beats: Beat[] = []
  const state = { token: VM_TOKEN }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const status = request.method === 'POST' && request.url === path ? (request.headers.authorization === `Bearer ${state.token}` ? 204 : 401) : 404
      beats.push({ path: request.url ?? '', status, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') })
      response.writeHead(status).end()
    })
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  return { beats, state, baseUrl: `http://127.0.0.1:${port}/functions/v1` }
}

t.test('heartbeats carry the contract payload with enum statuses, on the configured path', async (t) => {
  const backend = await heartbeatFunction(t, '/functions/v1/dtma/heartbeat')
  const agent = await startTestAgent(t, { env: { AGENTOPIA_API_BASE_URL: `${backend.baseUrl}/`, DTMA_HEARTBEAT_PATH: '/dtma/heartbeat', DTMA_HEARTBEAT_INTERVAL_S: '1' } })
  t.ok(await waitFor(() => (backend.beats.length > 0 ? true : undefined), 5000), 'one heartbeat right after start')
  const name = uniqueName('Beat')
  const hostPort = await freePort()
  const body = agent.deployBody(name, { hostPort })
  t.equal((await agent.client.deployTool({ body })).status, 201)
  const running = await waitFor(() => [...backend.beats].reverse().find((beat) => beat.body.tool_statuses?.some((s) => s.account_tool_instance_id === body.accountToolInstanceId && s.status_on_toolbox === 'running')), 10_000)
  t.ok(running, 'a heartbeat reports the instance running')
  t.equal(running?.status, 204)
  t.match(running?.body, {
    dtma_version: String,
    system_status: {
      cpu_load_percent: Number,
      memory: { total_bytes: Number, active_bytes: Number, free_bytes: Number, used_bytes: Number },
      disk: { mount: '/', total_bytes: Number, used_bytes: Number, free_bytes: Number },
      uptime_seconds: Number
    }
  })
  t.match(running?.body.tool_statuses.find((s) => s.account_tool_instance_id === body.accountToolInstanceId), {
    instance_name_on_toolbox: name,
    runtime: { container_id: /^[0-9a-f]{64}$/, image: 'dtma-test/busybox:v1', created_at: /^\d{4}-\d\d-\d\dT/, docker_status: 'running', ports: [{ container_port: 8080, host_port: hostPort, public_port: hostPort }] }
  })
  t.equal((await agent.client.stopTool({ params: { name } })).status, 200)
  const stopped = await waitFor(() => [...backend.beats].reverse().find((beat) => beat.body.tool_statuses?.some((s) => s.account_tool_instance_id === body.accountToolInstanceId && s.status_on_toolbox === 'stopped')), 10_000)
  t.ok(stopped, 'a stopped instance is reported stopped')
  for (const beat of backend.beats) {
    t.equal(beat.path, '/functions/v1/dtma/heartbeat')
    t.ok(Value.Check(HeartbeatBody, beat.body), 'the body is the contract HeartbeatBody')
    // The backend's deployed function copies runtime_details into a dropped column and then fails the whole row update.
    t.notMatch(JSON.stringify(beat.body), /runtime_details/, 'no runtime_details key')
    for (const status of beat.body.tool_statuses) if (!ENUM.includes(status.status_on_toolbox)) t.fail(`not an enum value: ${status.status_on_toolbox}`)
  }
  // The certificate the agent serves, for the backend to pin: the one in its data dir.
  const served = new X509Certificate(readFileSync(join(agent.dataDir, CERT_FILE)))
  t.comment(`heartbeat fingerprint: expected ${served.fingerprint256}, seen ${running?.body.tls_fingerprint_sha256}`)
  t.equal(running?.body.tls_fingerprint_sha256, served.fingerprint256, "a heartbeat carries the served certificate's fingerprint")
  t.equal(running?.body.tls_certificate_pem, served.toString(), 'and the certificate itself')
  t.equal((await agent.client.removeTool({ params: { name } })).status, 200)
})

t.test('an outage is logged once, its end once, and the token never', async (t) => {
  const backend = await heartbeatFunction(t, '/functions/v1/heartbeat')
  backend.state.token = 'the backend no longer knows this VM'
  const agent = await startTestAgent(t, { env: { AGENTOPIA_API_BASE_URL: backend.baseUrl, DTMA_HEARTBEAT_INTERVAL_S: '1' } })
  t.ok(await waitFor(() => (backend.beats.filter((beat) => beat.status === 401).length >= 3 ? true : undefined), 10_000), 'three refused heartbeats')
  const failing = () => agent.logs.filter((line) => line.includes('heartbeat failing'))
  t.equal(failing().length, 1, 'one log line for the outage')
  t.match(failing()[0], /HTTP 401/)
  backend.state.token = VM_TOKEN
  t.ok(await waitFor(() => (agent.logs.some((line) => line.includes('heartbeat recovered')) ? true : undefined), 5000), 'recovery logged')
  t.equal(failing().length, 1)
  t.notOk(agent.logs.join('\n').includes(VM_TOKEN), 'the token is never logged')
})

t.test('OFFLINE_MODE sends nothing', async (t) => {
  const backend = await heartbeatFunction(t, '/functions/v1/heartbeat')
  const agent = await startTestAgent(t, { env: { AGENTOPIA_API_BASE_URL: backend.baseUrl, DTMA_HEARTBEAT_INTERVAL_S: '1', OFFLINE_MODE: 'true' } })
  await new Promise((resolve) => setTimeout(resolve, 2500))
  t.equal(backend.beats.length, 0)
  t.equal(agent.logs.filter((line) => line.includes('heartbeat off: OFFLINE_MODE')).length, 1)
})
