// Every tool container is sandboxed, whatever the request: docker inspect of
// a deployed tool shows each setting, and the test image still serves with
// no capabilities at all and a read-only root.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { docker, fetchText, freePort, startTestAgent, uniqueName } from '../helpers/agent.ts'

const run = promisify(execFile)

async function dockerExec(containerId: string, command: string): Promise<boolean> {
  return run('docker', ['exec', containerId, 'sh', '-c', command]).then(
    () => true,
    () => false
  )
}

t.test('a deployed tool runs in the sandbox the settings describe', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_MEMORY_MB: '96', DTMA_TOOL_PIDS_LIMIT: '64', DTMA_TOOL_CPUS: '0.5' } })
  const hostPort = await freePort()
  const name = uniqueName('Sandboxed')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name, { hostPort }) })
  if (deployed.status !== 201) throw new Error(`deploy answered ${deployed.status}`)
  const info = await docker.getContainer(deployed.body.data.container_id).inspect()
  const host = info.HostConfig

  t.equal(host.Privileged, false, 'not privileged')
  t.same(host.SecurityOpt, ['no-new-privileges:true'], 'no-new-privileges')
  t.same(host.CapDrop, ['ALL'], 'every capability dropped')
  t.same([...(host.CapAdd ?? [])].sort(), ['CHOWN', 'NET_BIND_SERVICE', 'SETGID', 'SETUID'], 'only the default allow-list comes back')
  t.equal(host.ReadonlyRootfs, false, 'writable root by default (npx/uvx tools write under /)')
  t.same(host.Binds ?? [], [], 'no bind mounts')
  t.same(info.Mounts, [], 'no mounts at all')
  t.same(host.Devices ?? [], [], 'no devices')
  t.equal(host.IpcMode, 'private', 'own IPC namespace')
  t.equal(host.Memory, 96 * 1024 * 1024, 'memory limit')
  t.equal(host.MemorySwap, 96 * 1024 * 1024, 'no swap beyond the memory limit')
  t.equal(host.PidsLimit, 64, 'pids limit')
  t.equal(host.NanoCpus, 0.5e9, 'CPU limit')
  t.equal(host.RestartPolicy?.Name, 'unless-stopped', 'restart policy')
  t.same((host.LogConfig as { Config?: Record<string, string> }).Config, { 'max-size': '10m', 'max-file': '3' }, 'bounded json-file logs')
  t.same(host.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }] }, 'ports bound to DTMA_TOOL_HOST_IP only')
  t.same(Object.keys(info.NetworkSettings.Networks), ['dtma-tools'], 'on the tools network only')

  const network = await docker.getNetwork('dtma-tools').inspect()
  t.equal(network.Driver, 'bridge')
  t.equal(network.Options?.['com.docker.network.bridge.enable_icc'], 'false', 'tools cannot reach each other')

  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`), 'dtma-test-ok\n', 'the tool serves on its port')
})

t.test('with no capabilities and a read-only root the test image still serves; only /tmp is writable', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_CAP_ADD: 'none', DTMA_TOOL_READONLY_ROOTFS: 'true' } })
  const hostPort = await freePort()
  const name = uniqueName('Locked Down')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name, { hostPort }) })
  if (deployed.status !== 201) throw new Error(`deploy answered ${deployed.status}`)
  const id = deployed.body.data.container_id
  const info = await docker.getContainer(id).inspect()
  t.same(info.HostConfig.CapAdd ?? [], [], 'no capability kept')
  t.equal(info.HostConfig.ReadonlyRootfs, true, 'read-only root')
  t.match(info.HostConfig.Tmpfs, { '/tmp': /noexec/ }, 'a tmpfs /tmp without exec')
  t.equal(await fetchText(`http://127.0.0.1:${hostPort}/`), 'dtma-test-ok\n', 'httpd needs no capability')
  t.equal(await dockerExec(id, 'touch /probe'), false, 'the root is not writable')
  t.equal(await dockerExec(id, 'touch /tmp/probe'), true, '/tmp is')
})

t.test('two tools on the tools network cannot reach each other', async (t) => {
  const agent = await startTestAgent(t)
  const first = await agent.client.deployTool({ body: agent.deployBody(uniqueName('Neighbour A')) })
  const second = await agent.client.deployTool({ body: agent.deployBody(uniqueName('Neighbour B')) })
  if (first.status !== 201 || second.status !== 201) throw new Error('deploy failed')
  const target = (await docker.getContainer(first.body.data.container_id).inspect()).NetworkSettings.Networks['dtma-tools']?.IPAddress
  t.ok(target, 'the first tool has an address on the tools network')
  const reached = await dockerExec(second.body.data.container_id, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${target} 8080 | grep -q dtma-test-ok`)
  t.equal(reached, false, 'no traffic between tools')
})

t.test('config refuses capability names outside Docker default set and the host network', async (t) => {
  const { loadConfig } = await import('../../src/config.ts')
  const base = { BACKEND_TO_DTMA_API_KEY: 'k'.repeat(32), DTMA_CONFIG_FILE: '/dev/null' }
  t.throws(() => loadConfig({ ...base, DTMA_TOOL_CAP_ADD: 'CHOWN,SYS_ADMIN' }), /DTMA_TOOL_CAP_ADD/)
  t.throws(() => loadConfig({ ...base, DTMA_TOOL_NETWORK: 'host' }), /DTMA_TOOL_NETWORK/)
  t.same(loadConfig({ ...base, DTMA_TOOL_CAP_ADD: 'none' }).tool.capAdd, [])
})
