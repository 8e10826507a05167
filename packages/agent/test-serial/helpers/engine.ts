// The Docker engine stopped and started again under a running agent, for the
// serial tests that do it (they run alone: every other test uses the engine).
import { spawn } from 'node:child_process'
import { openSync, readFileSync } from 'node:fs'
import { docker } from '../../test/helpers/agent.ts'
import { alive } from '../../test/helpers/netns.ts'
import { waitFor } from '../../test/helpers/wait.ts'

interface TeardownHost {
  teardown(fn: () => Promise<void>): void
}

export const dockerUp = (): Promise<boolean> => docker.ping().then(() => true, () => false)

export function startDockerd(): void {
  const log = openSync('/var/log/dtma-dockerd.log', 'a')
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref()
}

/** Whatever happens, the test leaves the machine with a running engine. Register
 *  it last before the engine stops, so it runs first among the teardowns. */
export function keepEngineRunning(t: TeardownHost): void {
  t.teardown(async () => {
    if (!(await dockerUp())) startDockerd()
    await waitFor(async () => ((await dockerUp()) ? true : undefined), 60_000, 200)
  })
}

/** SIGTERM to dockerd; resolves once it no longer answers and its process has
 *  exited (it exits only once it has stopped every container, and a second
 *  dockerd started before then refuses to run beside it). */
export async function stopDockerd(): Promise<{ down: boolean; exited: boolean }> {
  const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim())
  process.kill(pid, 'SIGTERM')
  const down = (await waitFor(async () => ((await dockerUp()) ? undefined : true), 60_000, 200)) === true
  const exited = (await waitFor(async () => (alive(pid) ? undefined : true), 180_000, 200)) === true
  return { down, exited }
}

/** Starts dockerd again; true once it answers. */
export async function restartDockerd(): Promise<boolean> {
  startDockerd()
  return (await waitFor(async () => ((await dockerUp()) ? true : undefined), 60_000, 200)) === true
}
