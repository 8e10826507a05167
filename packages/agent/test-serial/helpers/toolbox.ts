// A toolbox for upgrade tests: agent containers run as production runs them
// (the Docker socket mounted, the host's network with NET_ADMIN and the
// xtables lock for the tool network policy, restart always),
// on a free loopback port and a scope of their own, a tool poller that counts
// failed requests, and `dtma-upgrade` run as the runbook says. Everything
// made here is removed when the test ends.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UpgradeEvent } from '@dtma/contract'
import { docker, freePort, TEST_CREDENTIAL_SETTINGS } from '../../test/helpers/agent.ts'
import { run } from './agent-image.ts'

interface TapLike {
  teardown(fn: () => unknown): void
}

export interface Toolbox {
  agentName: string
  port: number
  scope: string
  dataVolume: string
  backupDir: string
  url: string
  /** The production line's settings, as the backend's provisioning passes them. */
  env: string[]
}

export function newToolbox(t: TapLike, label: string): Promise<Toolbox> {
  return (async () => {
    const id = randomBytes(4).toString('hex')
    const port = await freePort()
    const scope = `upgrade-${label}-${id}`
    const box: Toolbox = {
      agentName: `dtma_manager_${label}_${id}`,
      port,
      scope,
      dataVolume: `dtma-data-test-${id}`,
      backupDir: mkdtempSync(join(tmpdir(), 'dtma-backups-')),
      url: `http://127.0.0.1:${port}`,
      env: [...TEST_CREDENTIAL_SETTINGS, 'AGENTOPIA_API_BASE_URL=http://127.0.0.1:9/functions/v1', `DTMA_SCOPE=${scope}`, 'DTMA_TOOL_HOST_IP=127.0.0.1', 'OFFLINE_MODE=true']
    }
    t.teardown(async () => {
      for (const name of [box.agentName, `${box.agentName}-previous`]) await docker.getContainer(name).remove({ force: true, v: true }).catch(() => undefined)
      const leftovers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scope}`] } })
      await Promise.all(leftovers.map((container) => docker.getContainer(container.Id).remove({ force: true })))
      const helpers = await docker.listContainers({ all: true, filters: { label: ['dtma.upgrade-operation'] } })
      await Promise.all(helpers.filter((helper) => helper.Command.includes(box.agentName)).map((helper) => docker.getContainer(helper.Id).remove({ force: true })))
      await docker.getVolume(box.dataVolume).remove().catch(() => undefined)
      rmSync(box.backupDir, { recursive: true, force: true })
    })
    return box
  })()
}

/** The production line, with this toolbox's port and settings: on the host's
 *  network, where the agent listens on the toolbox's port itself and finds its
 *  own container by name. `published` is the earlier provisioning line instead
 *  (the agent's port published from Docker's default bridge, no NET_ADMIN),
 *  which an agent of this release runs degraded on. */
export async function runAgent(box: Toolbox, image: string, extra: string[] = [], line: 'host' | 'published' = 'host'): Promise<void> {
  const network =
    line === 'host'
      ? ['--network', 'host', '--cap-add', 'NET_ADMIN', '-v', '/run/xtables.lock:/run/xtables.lock', '-e', `PORT=${box.port}`, '-e', 'HOST=127.0.0.1', '-e', `DTMA_AGENT_CONTAINER=${box.agentName}`]
      : ['-p', `127.0.0.1:${box.port}:30000`]
  await run('docker', [
    'run', '-d', '--name', box.agentName, '--restart', 'always', ...network,
    '-v', '/var/run/docker.sock:/var/run/docker.sock', ...box.env.flatMap((entry) => ['-e', entry]), ...extra, image
  ])
}

export async function waitReady(url: string, path = '/health/ready', timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await fetch(`${url}${path}`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url}${path} did not answer 200 within ${timeoutMs} ms`)
}

/** Polls a tool's port every 50 ms until stopped; counts the requests that failed. */
export function pollTool(port: number): { stop(): Promise<{ polls: number; failures: number }> } {
  let stopped = false
  const counts = { polls: 0, failures: 0 }
  const loop = (async () => {
    while (!stopped) {
      counts.polls++
      const ok = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)
      if (!ok) counts.failures++
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })()
  return {
    async stop() {
      stopped = true
      await loop
      return counts
    }
  }
}

/** The runbook's upgrade command: `docker run --rm --network host` with the socket and the backups. */
export async function dtmaUpgrade(box: Toolbox, runner: string, args: string[]): Promise<{ code: number; events: UpgradeEvent[]; output: string }> {
  const command = ['run', '--rm', '--network', 'host', '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${box.backupDir}:/var/backups/dtma`, runner, 'dtma-upgrade', '--json', '--container', box.agentName, '--data-volume', box.dataVolume, ...args]
  const result = await run('docker', command, { maxBuffer: 16 * 1024 * 1024 }).then(
    (done) => ({ code: 0, output: done.stdout + done.stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, output: (error.stdout ?? '') + (error.stderr ?? '') })
  )
  const events = result.output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as UpgradeEvent)
  return { ...result, events }
}
