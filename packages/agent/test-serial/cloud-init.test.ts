// The provisioning template (docker/cloud-init.sh.tpl), rendered as the
// backend renders it, and its Docker part (everything after "install Docker
// if missing") run against the local engine with a throwaway container name,
// port, volume and env file: the agent must be ready, run as the template
// says, and keep its tokens off every command line.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { docker, freePort } from '../test/helpers/agent.ts'
import { dockerPart, renderTemplate } from '../test/helpers/user-data.ts'
import { buildAgentImage, removeImages, run, sourceCommit } from './helpers/agent-image.ts'

t.setTimeout(900_000)

t.test('the user-data template runs the agent ready, with its volume, restart policy, health check and log limits', async (t) => {
  const id = randomBytes(3).toString('hex')
  const image = `dtma-agent:fleet-cloudinit-${id}`
  const name = `dtma_manager_cloudinit_${id}`
  const volume = `dtma-data-cloudinit-${id}`
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'dtma-cloudinit-'))
  const tokens = { DTMA_BEARER_TOKEN: `vm-'quoted'-${id}-${randomBytes(16).toString('hex')}`, BACKEND_TO_DTMA_API_KEY: `key-${id}-${randomBytes(16).toString('hex')}` }
  t.teardown(async () => {
    await docker.getContainer(name).remove({ force: true }).catch(() => undefined)
    const tools = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=cloudinit-${id}`] } })
    await Promise.all(tools.map((tool) => docker.getContainer(tool.Id).remove({ force: true })))
    await docker.getVolume(volume).remove().catch(() => undefined)
    await removeImages([image])
    rmSync(dir, { recursive: true, force: true })
  })
  await buildAgentImage(image, { version: `0.1.0-cloudinit.${id}`, commit: await sourceCommit() })

  const script = renderTemplate({ DTMA_IMAGE: image, ...tokens, AGENTOPIA_API_BASE_URL: 'http://127.0.0.1:9/functions/v1', SUPABASE_URL: '', ACCOUNT_TOOL_ENVIRONMENT_ID: '', REGISTRY_USER: '', REGISTRY_PASSWORD: '',
    // Beside other agents on this engine: a scope of its own, nothing taken over, no backend.
    DTMA_EXTRA_SETTINGS: `DTMA_SCOPE=cloudinit-${id}\nDTMA_ADOPT_LABELLED=false\nOFFLINE_MODE=true\nDTMA_TOOL_HOST_IP=127.0.0.1` })
  const path = join(dir, 'user-data.sh')
  writeFileSync(path, dockerPart(script))
  const envFile = join(dir, 'agent.env')
  const result = await run('bash', [path], {
    env: { PATH: process.env.PATH, DTMA_CONTAINER: name, DTMA_PORT: String(port), DTMA_HOST: '127.0.0.1', DTMA_DATA_VOLUME: volume, DTMA_ENV_FILE: envFile, DTMA_READY_TIMEOUT_S: '90' }
  })
  t.match(result.stdout, `dtma: ${name} is ready on port ${port}`)

  const ready = await fetch(`http://127.0.0.1:${port}/health/ready`)
  t.equal(ready.status, 200, 'ready where the template says, on the host network')
  const info = await docker.getContainer(name).inspect()
  t.equal(info.HostConfig.RestartPolicy?.Name, 'always')
  t.equal(info.HostConfig.NetworkMode, 'host')
  t.same(info.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } }, 'log limits')
  t.match(info.Config.Healthcheck?.Test?.join(' '), '/health', "the image's health check")
  t.ok(info.Mounts.some((mount) => mount.Name === volume && mount.Destination === '/var/lib/dtma'), 'the store on its named volume')
  t.ok((info.Config.Env ?? []).includes(`DTMA_BEARER_TOKEN=${tokens.DTMA_BEARER_TOKEN}`), 'a quoted token arrives as it was')
  t.equal(statSync(envFile).mode & 0o777, 0o600, 'the env file is root-only')
  t.notOk(readFileSync(envFile, 'utf8').includes('SUPABASE_URL'), 'no registry settings when none are given')
  t.notOk(JSON.stringify([info.Path, info.Args]).includes(tokens.BACKEND_TO_DTMA_API_KEY), 'no token on the command line')
  const status = await fetch(`http://127.0.0.1:${port}/status`).then((r) => r.json() as Promise<{ version: string }>)
  t.equal(status.version, `0.1.0-cloudinit.${id}`)

  // Run again (a re-run user-data): the same volume, a new container, ready again.
  const again = await run('bash', [path], {
    env: { PATH: process.env.PATH, DTMA_CONTAINER: name, DTMA_PORT: String(port), DTMA_HOST: '127.0.0.1', DTMA_DATA_VOLUME: volume, DTMA_ENV_FILE: envFile, DTMA_READY_TIMEOUT_S: '90' }
  })
  t.match(again.stdout, 'is ready')
  t.not((await docker.getContainer(name).inspect()).Id, info.Id, 'a new container on the same store')
})
