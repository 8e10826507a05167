// The agent image: docker/Dockerfile built unmodified by a real `docker
// build` (on a local stand-in of node:24-bookworm-slim where no registry is
// reachable) with a version and commit baked in, then run as the contract's
// production line (restart always, the Docker socket mounted) and driven
// through it. Serial: the build is heavy for a 2-core machine.
import { randomBytes } from 'node:crypto'
import { createDtmaClient } from '@dtma/contract'
import t from 'tap'
import { docker, dockerState, freePort, TEST_CREDENTIAL_SETTINGS, TEST_IMAGE, TOKEN, uniqueName } from '../test/helpers/agent.ts'
import { buildAgentImage, run, sourceCommit } from './helpers/agent-image.ts'

const IMAGE = 'dtma-agent:test'
/** What a release build bakes in; the image must report exactly this. */
const VERSION = `0.1.0-ci.${randomBytes(3).toString('hex')}`

t.setTimeout(900_000)

t.test('the Dockerfile builds and the image runs the agent against the host engine', async (t) => {
  const commit = await sourceCommit()
  await buildAgentImage(IMAGE, { version: VERSION, commit })

  const config = (await docker.getImage(IMAGE).inspect()).Config
  t.match(config.Healthcheck?.Test?.join(' '), '/health', 'the health check asks /health')
  t.match(config.Labels, { 'org.opencontainers.image.version': VERSION, 'org.opencontainers.image.revision': commit }, 'OCI labels say the version and commit')
  t.equal((await run('docker', ['run', '--rm', IMAGE, 'dtma', '--version'])).stdout.trim(), `dtma ${VERSION} (commit ${commit})`, 'the CLI in the image reports them')
  t.match((await run('docker', ['run', '--rm', IMAGE, 'dtma-upgrade', '--help'])).stdout, /^Usage: dtma-upgrade --image IMAGE/, 'the upgrader is on PATH')
  const compilers = await run('docker', ['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c', 'command -v g++ make python3 || true'])
  t.equal(compilers.stdout.trim(), '', 'the runtime stage carries no build toolchain')

  const name = `dtma_manager_${randomBytes(4).toString('hex')}`
  const scope = `image-${randomBytes(4).toString('hex')}`
  const port = await freePort()
  t.teardown(async () => {
    await docker.getContainer(name).remove({ force: true }).catch(() => undefined)
    const tools = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scope}`] } })
    await Promise.all(tools.map((tool) => docker.getContainer(tool.Id).remove({ force: true })))
  })
  // The production line (README, docker/cloud-init.sh.tpl): the host's network, NET_ADMIN and the
  // xtables lock for the tool network policy; on a free loopback port and its own scope.
  await run('docker', [
    'run', '-d', '--name', name, '--restart', 'always', '--network', 'host', '--cap-add', 'NET_ADMIN',
    '-v', '/run/xtables.lock:/run/xtables.lock', '-v', '/var/run/docker.sock:/var/run/docker.sock',
    '-e', `PORT=${port}`, '-e', 'HOST=127.0.0.1', '-e', `DTMA_AGENT_CONTAINER=${name}`,
    ...TEST_CREDENTIAL_SETTINGS.flatMap((setting) => ['-e', setting]), '-e', `DTMA_SCOPE=${scope}`, '-e', 'DTMA_TOOL_HOST_IP=127.0.0.1', '-e', 'OFFLINE_MODE=true',
    IMAGE
  ])
  const baseUrl = `http://127.0.0.1:${port}`
  const client = createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 60_000 })
  const deadline = Date.now() + 30_000
  while ((await client.ready().catch(() => undefined))?.status !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal((await client.health()).body, 'OK')
  t.equal((await client.ready()).status, 200, 'ready after its first reconcile with the host engine')
  t.match(await client.status(), { status: 200, body: { version: VERSION, dtma_version: VERSION, commit, network_policy: { state: 'enforced' } } }, '/status reports the baked-in version and commit, and the network policy in force from inside the container')

  const instanceName = uniqueName('Image')
  const deployed = await client.deployTool({ body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: instanceName, accountToolInstanceId: `ati-${randomBytes(6).toString('hex')}` } })
  t.equal(deployed.status, 201)
  const containerId = deployed.status === 201 ? deployed.body.data.container_id : ''
  t.equal(await dockerState(containerId), 'running', 'the tool runs on the host engine through the mounted socket')
  t.equal((await client.removeTool({ params: { name: instanceName } })).status, 200)

  const agent = await docker.getContainer(name).inspect()
  t.equal(agent.HostConfig.RestartPolicy?.Name, 'always')
  // The first check runs one interval (15 s) after the start.
  let health = agent.State.Health?.Status
  while (health !== 'healthy' && Date.now() < deadline + 30_000) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    health = (await docker.getContainer(name).inspect()).State.Health?.Status
  }
  t.equal(health, 'healthy', 'Docker reports the HEALTHCHECK healthy')
})
