// The stand-in for the agent's own container in upgrade tests: an image whose
// `dtma-upgrade` writes upgrade events and waits for the test's word, so the
// helper runs exactly as long as the test needs; the helpers of an agent;
// the upgrade events an agent streams.
import { randomBytes } from 'node:crypto'
import { readServerSentEvents, type UpgradeEvent } from '@dtma/contract'
import type { Test } from 'tap'
import { docker, startTestAgent, tempDir, TEST_IMAGE, type TestAgent } from './agent.ts'

export const STANDIN = `dtma-test/upgrade-standin:v2`
export const OPERATION_LABEL = 'dtma.upgrade-operation'

// The helper's command is `dtma-upgrade --json ... --operation-id ID`; the
// stand-in prints lines an agent must skip, then a running and a done event,
// and waits for /go-on in between (at most a minute).
const SCRIPT = [
  'op=""; while [ $# -gt 0 ]; do [ "$1" = --operation-id ] && op="$2"; shift; done',
  'ev() { echo "{\\"operation_id\\":\\"$op\\",\\"step\\":\\"$1\\",\\"status\\":\\"$2\\",\\"message\\":\\"$3\\",\\"elapsed_ms\\":0,\\"time\\":\\"2026-12-04T00:00:00Z\\"}"; }',
  'echo "not an event"; echo "{\\"operation_id\\":\\"$op\\"}"',
  'ev check running "stand-in upgrader started"',
  'i=0; while [ ! -e /go-on ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done',
  'ev done succeeded "stand-in upgrader finished"'
].join('\n')

export async function ensureStandinImage(): Promise<void> {
  if (await docker.getImage(STANDIN).inspect().then(() => true, () => false)) return
  const container = await docker.createContainer({ Image: TEST_IMAGE })
  try {
    const [repo, tag] = STANDIN.split(':') as [string, string]
    await container.commit({ repo, tag, changes: `ENTRYPOINT ${JSON.stringify(['/bin/sh', '-c', SCRIPT, 'dtma-upgrade-standin'])}` })
  } finally {
    await container.remove({ force: true })
  }
}

/** A created (never started) container standing for the agent's own. */
export async function selfContainer(t: Test, image: string): Promise<string> {
  const name = `dtma-test-self-${randomBytes(4).toString('hex')}`
  await docker.createContainer({ name, Image: image })
  t.teardown(async () => {
    await docker.getContainer(name).remove({ force: true }).catch(() => undefined)
    const helpers = await docker.listContainers({ all: true, filters: { label: [`dtma.upgrade-agent=${name}`] } })
    await Promise.all(helpers.map((helper) => docker.getContainer(helper.Id).remove({ force: true }).catch(() => undefined)))
  })
  return name
}

/** An agent in the stand-in container `self`; the same data dir is the same agent after an upgrade. */
export function agentIn(t: Test, self: string, dataDir?: string): Promise<TestAgent> {
  return startTestAgent(t, { env: { DTMA_AGENT_CONTAINER: self, DTMA_BACKUP_DIR: tempDir(t) }, ...(dataDir !== undefined && { dataDir }) })
}

export async function helpersOf(self: string): Promise<Array<{ Id: string; State: string; Labels: Record<string, string> }>> {
  return docker.listContainers({ all: true, filters: { label: [`dtma.upgrade-agent=${self}`] } })
}

/** The helper of an operation goes on: the stand-in ends once told. */
export async function release(operationId: string): Promise<void> {
  const [helper] = await docker.listContainers({ all: true, filters: { label: [`${OPERATION_LABEL}=${operationId}`] } })
  if (helper === undefined) throw new Error(`no helper for operation ${operationId}`)
  const exec = await docker.getContainer(helper.Id).exec({ Cmd: ['touch', '/go-on'] })
  await exec.start({ hijack: true, stdin: false }).then((stream) => new Promise((resolve) => stream.on('end', resolve).resume()))
}

/** Upgrade events from a stream opened now, until `done` comes (or 30 s). */
export async function upgradeEvents(agent: TestAgent, until: (event: UpgradeEvent) => boolean): Promise<UpgradeEvent[]> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 30_000)
  const events: UpgradeEvent[] = []
  try {
    const reply = await agent.client.events({ signal: controller.signal })
    if (reply.status !== 200) throw new Error(`/events answered ${reply.status}`)
    for await (const event of readServerSentEvents(reply.response)) {
      if (event.event !== 'upgrade') continue
      events.push(JSON.parse(event.data) as UpgradeEvent)
      if (until(events.at(-1) as UpgradeEvent)) break
    }
  } catch {
    // aborted: the caller asserts on what came
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  return events
}
