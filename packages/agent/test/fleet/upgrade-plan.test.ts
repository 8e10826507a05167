// The pure parts of the fleet: how an upgrade makes the new agent container
// from the old one (settings carried over, image defaults left behind, the
// store's mount, where the agent answers), how an earlier agent's container
// is told from everything else, and how upgrade arguments are checked.
import t from 'tap'
import { asLegacy, neverLegacy } from '../../src/fleet/legacy/earlier-agent.ts'
import { normalImage } from '../../src/fleet/legacy/deploy-take-over.ts'
import { agentCredentials, agentUrl, dataMount, newAgentSpec } from '../../src/fleet/upgrade/agent-container.ts'
import { parseInvocation } from '../../src/fleet/upgrade/args.ts'
import { stamp } from '../../src/fleet/upgrade/backup.ts'
import type { AgentContainer, AgentImage } from '../../src/runtime/agent-host.ts'
import type { ContainerInfo } from '../../src/runtime/types.ts'

const oldImage: AgentImage = { id: 'sha256:old', user: 'node', env: ['PATH=/usr/bin', 'NODE_VERSION=20.1.0', 'PORT=30000'], labels: { 'org.opencontainers.image.title': 'DTMA agent' }, exposedPorts: ['30000/tcp'] }
const newImage: AgentImage = { id: 'sha256:new', user: 'node', env: ['PATH=/usr/local/bin', 'NODE_VERSION=24.0.0'], labels: {}, exposedPorts: ['30000/tcp'] }

function production(overrides: Partial<AgentContainer> = {}): AgentContainer {
  return {
    id: 'c0ffee',
    name: 'dtma_manager',
    image: 'registry.example/dtma:1',
    imageId: 'sha256:old',
    state: 'running',
    exitCode: 0,
    restartCount: 0,
    env: [...oldImage.env, 'DTMA_BEARER_TOKEN=vm-secret', 'BACKEND_TO_DTMA_API_KEY=key-secret'],
    labels: { 'org.opencontainers.image.title': 'DTMA agent', 'owner': 'ops' },
    portBindings: { '30000/tcp': [{ HostIp: '', HostPort: '30000' }] },
    binds: ['/var/run/docker.sock:/var/run/docker.sock'],
    mounts: [
      { type: 'bind', source: '/var/run/docker.sock', destination: '/var/run/docker.sock' },
      { type: 'volume', source: 'a'.repeat(64), destination: '/var/lib/dtma' }
    ],
    restartPolicy: { Name: 'always' },
    networkMode: 'default',
    // What a plain `docker run` leaves: no limits, the image's user, the id as host name.
    carried: { host: { Memory: 0, CapDrop: [] }, user: 'node', hostname: 'c0ffee' },
    inspect: {},
    ...overrides
  }
}

t.test('the new agent container carries the operator settings, not the old image defaults, and the store on the named volume', async (t) => {
  const spec = newAgentSpec(production(), oldImage, newImage, 'registry.example/dtma:2', 'dtma-data')
  t.same(spec.env, ['DTMA_BEARER_TOKEN=vm-secret', 'BACKEND_TO_DTMA_API_KEY=key-secret'], "the old image's PATH and NODE_VERSION stay behind")
  t.same(spec.labels, { owner: 'ops' })
  t.same(spec.binds, ['/var/run/docker.sock:/var/run/docker.sock', 'dtma-data:/var/lib/dtma'])
  t.same(spec.portBindings, { '30000/tcp': [{ HostIp: '', HostPort: '30000' }] })
  t.same(spec.restartPolicy, { Name: 'always' })
  t.equal(spec.image, 'registry.example/dtma:2')
  t.same(newAgentSpec(production({ restartPolicy: { Name: 'no' } }), oldImage, newImage, 'x:2', 'dtma-data').restartPolicy, { Name: 'always' }, 'an agent without a restart policy gets always')
})

t.test('what else the operator set is carried: capabilities, limits, hosts, a --mount, the user and host name they chose', async (t) => {
  const carried = {
    host: {
      CapDrop: ['NET_RAW'],
      Memory: 536870912,
      PidsLimit: 512,
      ExtraHosts: ['backend.internal:10.0.0.9'],
      Mounts: [
        { Type: 'bind', Source: '/etc/dtma.conf', Target: '/etc/dtma.conf', ReadOnly: true },
        { Type: 'volume', Source: 'old-store', Target: '/var/lib/dtma' }
      ]
    },
    user: '0',
    hostname: 'toolbox-7'
  }
  const spec = newAgentSpec(production({ carried }), oldImage, newImage, 'x:2', 'dtma-data')
  t.same(spec.host, { CapDrop: ['NET_RAW'], Memory: 536870912, PidsLimit: 512, ExtraHosts: ['backend.internal:10.0.0.9'], Mounts: [{ Type: 'bind', Source: '/etc/dtma.conf', Target: '/etc/dtma.conf', ReadOnly: true }] }, "a --mount on the store's path gives way to the data mount")
  t.equal(spec.user, '0', 'a user the operator chose over the image')
  t.equal(spec.hostname, 'toolbox-7')
  const plain = newAgentSpec(production(), oldImage, newImage, 'x:2', 'dtma-data')
  t.equal(plain.user, undefined, "the image's own user is the new image's to choose")
  t.equal(plain.hostname, undefined, 'a host name Docker made from the id is not carried')
  const onHost = newAgentSpec(production({ networkMode: 'host', carried: { ...carried, hostname: 'the-vm' } }), oldImage, newImage, 'x:2', 'dtma-data')
  t.equal(onHost.hostname, undefined, "on host networking the host's name is not set")
  t.same(onHost.host.CapAdd, ['NET_ADMIN'], 'on host networking the upgraded agent may install the tool network policy')
  t.equal(newAgentSpec(production({ networkMode: 'host', carried: { ...carried, host: { CapAdd: ['CAP_NET_ADMIN'] } } }), oldImage, newImage, 'x:2', 'dtma-data').host.CapAdd?.toString(), 'CAP_NET_ADMIN', 'given once')
})

t.test("the store stays where an operator put it; an anonymous volume's store moves to the named one", async (t) => {
  t.same(dataMount(production(), 'dtma-data'), { bind: 'dtma-data:/var/lib/dtma', named: true })
  t.same(dataMount(production({ mounts: [{ type: 'volume', source: 'my-store', destination: '/var/lib/dtma' }] }), 'dtma-data'), { bind: 'my-store:/var/lib/dtma', named: false })
  t.same(dataMount(production({ mounts: [{ type: 'bind', source: '/srv/dtma', destination: '/var/lib/dtma' }] }), 'dtma-data'), { bind: '/srv/dtma:/var/lib/dtma', named: false })
  t.same(dataMount(production({ env: ['DTMA_DATA_DIR=/data'], mounts: [] }), 'dtma-data'), { bind: 'dtma-data:/data', named: true })
})

t.test('where the agent answers, and with which token', async (t) => {
  t.equal(agentUrl(production()), 'http://127.0.0.1:30000')
  t.equal(agentUrl(production({ portBindings: { '30000/tcp': [{ HostIp: '10.0.0.5', HostPort: '31000' }] } })), 'http://10.0.0.5:31000')
  t.equal(agentUrl(production({ networkMode: 'host', env: ['PORT=30100'] })), 'http://127.0.0.1:30100')
  t.throws(() => agentUrl(production({ portBindings: {} })), /--url/)
  // A token signed with the agent's secret for its audience first, then the fleet key unless turned off.
  const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  const [signed, key] = await agentCredentials(production())
  t.match(claims(signed as string), { aud: 'dtma:local', scope: 'tools:read', sub: 'dtma-upgrade' })
  t.equal((claims(signed as string).exp as number) - (claims(signed as string).iat as number), 60)
  t.equal(key, 'key-secret')
  const environmentId = '0b5f1c9e-3b1a-4c2e-9a55-7d2f4e6a8b10'
  const [forEnvironment] = await agentCredentials(production({ env: ['DTMA_BEARER_TOKEN=vm-secret', `ACCOUNT_TOOL_ENVIRONMENT_ID=${environmentId}`] }))
  t.match(claims(forEnvironment as string), { aud: `dtma:${environmentId}` })
  t.equal((await agentCredentials(production({ env: ['DTMA_AUTH_TOKEN=conf'] }))).length, 1, 'the secret of the conf name signs')
  t.same(await agentCredentials(production({ env: ['BACKEND_TO_DTMA_API_KEY=key-secret', 'DTMA_ACCEPT_FLEET_KEY=false'] })), [], 'a fleet key turned off is not tried')
  t.same(await agentCredentials(production({ env: ['DTMA_BEARER_TOKEN=', 'BACKEND_TO_DTMA_API_KEY='] })), [], 'an enrolled toolbox: empty settings, no credential')
})

function container(overrides: Partial<ContainerInfo>): ContainerInfo {
  return { managed: false, id: 'id1', name: 'context7', image: 'mcp/context7', labels: {}, dockerState: 'running', health: 'none', created: 0, ports: [{ container_port: 8080, protocol: 'tcp', host_ip: '0.0.0.0', host_port: 30005 }], env: ['PATH=/bin', 'API_KEY=k'], restartPolicy: 'unless-stopped', mounts: [], process: imageProcess, networkMode: 'default', ...overrides }
}
const imageProcess = { cmd: ['node', 'server.js'], entrypoint: [], user: '', workingDir: '/app' }
const judged = { agentPort: 30000, image: { labels: { maintainer: 'x' }, env: ['PATH=/bin'], process: imageProcess } }

t.test("an earlier agent's tool container, and what never is one", async (t) => {
  t.match(asLegacy(container({}), judged), { instanceName: 'context7', env: ['API_KEY=k'], reasons: ['unlabelled', 'restart-unless-stopped', 'named-like-an-instance', 'no-mounts', 'image-process', 'publishes-ports'] })
  t.ok(asLegacy(container({ labels: { maintainer: 'x' } }), judged), "its image's labels are not its own")
  t.equal(asLegacy(container({ labels: { 'com.example.team': 'web' } }), judged), undefined, 'a label of its own: someone else made it')
  t.equal(asLegacy(container({ restartPolicy: 'always' }), judged), undefined, 'another restart policy')
  t.match(
    asLegacy(container({ name: 'mcp-1', restartPolicy: 'no', labels: { 'agentopia.mcp.server': 'true', 'agentopia.mcp.instance_name': 'My MCP', 'agentopia.mcp.account_tool_instance_id': 'ati-1', 'agentopia.mcp.transport_type': 'sse' } }), judged),
    { instanceName: 'My MCP', accountToolInstanceId: 'ati-1', mcp: { transport: 'sse', endpoint: '/mcp', port: 8080 }, reasons: ['agentopia-mcp-labels', 'no-mounts', 'image-process', 'publishes-ports'] }
  )
  t.match(neverLegacy(container({ name: 'dtma_manager' }), 30000), /agent container/)
  t.match(neverLegacy(container({ labels: { 'dtma.managed': 'true', 'dtma.scope': 'other' } }), 30000), /DTMA's labels/)
  t.match(neverLegacy(container({ mounts: [{ type: 'bind', source: '/var/run/docker.sock', destination: '/var/run/docker.sock' }] }), 30000), /Docker socket/)
  t.match(neverLegacy(container({ ports: [{ container_port: 30000, protocol: 'tcp', host_ip: '0.0.0.0', host_port: 30000 }] }), 30000), /agent's port/)
  t.match(neverLegacy(container({ labels: { 'org.opencontainers.image.title': 'DTMA agent' } }), 30000), /agent image/)
  t.match(neverLegacy(container({ labels: { 'com.docker.compose.project': 'x' } }), 30000), /Compose/)
})

t.test('image references compare as Docker reads them', async (t) => {
  t.equal(normalImage('busybox'), 'busybox:latest')
  t.equal(normalImage('docker.io/library/busybox:latest'), 'busybox:latest')
  t.equal(normalImage('registry.example:5000/x/y'), 'registry.example:5000/x/y:latest')
  t.not(normalImage('x:1'), normalImage('x:2'))
})

t.test('dtma-upgrade arguments are checked before anything is touched', async (t) => {
  t.match(parseInvocation(['--image', 'dtma:2']), { upgrade: { container: 'dtma_manager', image: 'dtma:2', pull: 'missing', timeoutMs: 120_000, backupDir: '/var/backups/dtma', dataVolume: 'dtma-data' } })
  for (const argv of [[], ['--image', 'x', '--pull', 'sometimes'], ['--image', 'x', '--timeout', 'soon'], ['--image', 'x', '--url', 'not a url'], ['--image', 'x', '--bogus']]) {
    t.throws(() => parseInvocation(argv), { name: 'UsageError' }, argv.join(' '))
  }
  t.match(stamp(new Date('2026-01-02T03:04:05.678Z')), '2026-01-02T03-04-05Z')
})
