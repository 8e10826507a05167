// Upgrades on real Docker, as the runbook runs them: from an earlier agent's
// dtma_manager (the stand-in image) to this agent, from this agent's
// previous image to a new one through POST /redeploy (the DTMA console's
// button), and to a broken image, which is rolled back on its own. A tool's
// port is polled every 50 ms throughout: the goal is zero failed polls. The
// store must survive both. Figures (polls, durations) are printed as comments.
import { randomBytes, randomUUID } from 'node:crypto'
import { statSync, readdirSync } from 'node:fs'
import { createDtmaClient, readServerSentEvents, type UpgradeEvent } from '@dtma/contract'
import t from 'tap'
import { docker, FLEET_KEY, TEST_IMAGE, TOKEN, uniqueName } from '../test/helpers/agent.ts'
import { earlierAgentTool, legacyName } from '../test/helpers/earlier-agent.ts'
import { freePort } from '../test/helpers/agent.ts'
import { waitFor } from '../test/helpers/wait.ts'
import { buildAgentImage, buildBrokenImage, buildEarlierAgentImage, removeImages, run, sourceCommit } from './helpers/agent-image.ts'
import { dtmaUpgrade, newToolbox, pollTool, runAgent, waitReady, type Toolbox } from './helpers/toolbox.ts'

t.setTimeout(1_200_000)

const id = randomBytes(3).toString('hex')
const PREVIOUS = `dtma-agent:fleet-prev-${id}`
const NEW = `dtma-agent:fleet-new-${id}`
const BROKEN = `dtma-agent:fleet-broken-${id}`
const EARLIER = `dtma-test/earlier-agent:${id}`
const NEW_VERSION = `0.2.0-new.${id}`

function client(box: Toolbox) {
  return createDtmaClient({ baseUrl: box.url, token: TOKEN, timeoutMs: 30_000 })
}

/** The upgrade events an agent sends a client that connects now (the last one first), read for a moment. */
async function upgradeEventsNow(box: Toolbox): Promise<UpgradeEvent[]> {
  const controller = new AbortController()
  const reply = await client(box).events({ signal: controller.signal, timeoutMs: 2000 }).catch(() => undefined)
  if (reply?.status !== 200) return []
  const events: UpgradeEvent[] = []
  const timer = setTimeout(() => controller.abort(), 1000)
  try {
    for await (const event of readServerSentEvents(reply.response)) if (event.event === 'upgrade') events.push(JSON.parse(event.data) as UpgradeEvent)
  } catch {
    // aborted: the moment is over
  } finally {
    clearTimeout(timer)
  }
  return events
}

function done(events: UpgradeEvent[]): UpgradeEvent | undefined {
  return events.find((event) => event.step === 'done')
}

/** The instance names and whether metadata is kept, read from the store file in the data volume. */
async function storeRecords(volume: string): Promise<string> {
  const script = "const {DatabaseSync}=require('node:sqlite');const db=new DatabaseSync('/var/lib/dtma/dtma.db',{readOnly:true});console.log(JSON.stringify(db.prepare('SELECT instance_name, spec_json FROM instances').all().map(r=>[r.instance_name, JSON.parse(r.spec_json).metadata?.templateId??null])))"
  return (await run('docker', ['run', '--rm', '-v', `${volume}:/var/lib/dtma:ro`, NEW, 'node', '-e', script])).stdout.trim()
}

t.before(async () => {
  const commit = await sourceCommit()
  await buildAgentImage(PREVIOUS, { version: `0.1.0-prev.${id}`, commit })
  await buildAgentImage(NEW, { version: NEW_VERSION, commit })
  await buildBrokenImage(BROKEN, NEW)
  await buildEarlierAgentImage(EARLIER)
})
t.teardown(() => removeImages([PREVIOUS, NEW, BROKEN, EARLIER]))

t.test("from an earlier agent's dtma_manager: its tools keep answering, its labelled one is adopted, its config is backed up", async (t) => {
  const box = await newToolbox(t, 'earlier')
  // Flags an operator may have added to the production line: the upgrade keeps them.
  await runAgent(box, EARLIER, ['--memory', '512m', '--cap-drop', 'NET_RAW', '--add-host', 'backend.internal:10.0.0.9', '--hostname', 'toolbox-earlier'], 'published')
  await waitReady(box.url, '/health')
  const unlabelled = await earlierAgentTool(t, { name: legacyName('earlier-tool'), hostPort: await freePort(), env: ['API_KEY=earlier'] })
  const labelled = await earlierAgentTool(t, { name: legacyName('earlier-mcp'), hostPort: await freePort(), mcpLabels: { instanceName: `Earlier MCP Server-${id}` } })
  const poll = pollTool(unlabelled.hostPort)

  const upgraded = await dtmaUpgrade(box, NEW, ['--image', NEW, '--timeout', '90'])
  const polls = await poll.stop()
  t.equal(upgraded.code, 0, upgraded.output)
  t.match(done(upgraded.events), { status: 'succeeded' })
  t.equal(polls.failures, 0, `no failed poll of the unlabelled tool (${polls.polls} polls)`)
  t.comment(`earlier agent -> new: ${done(upgraded.events)?.elapsed_ms} ms, ${polls.polls} polls, ${polls.failures} failed`)

  // The earlier agent's container published its port on Docker's bridge, and the upgrade keeps that: the host's
  // calls reach the agent from the bridge's gateway, not from loopback, over plain HTTP. There the agent serves
  // what the fleet key may do (as the deployed backend calls it) and refuses a token: HTTPS is for tokens.
  const agent = createDtmaClient({ baseUrl: box.url, token: FLEET_KEY, timeoutMs: 30_000 })
  t.equal((await client(box).listTools()).status, 403, 'a token over plain HTTP from off the host is refused (use HTTPS)')
  t.match(await agent.status(), { status: 200, body: { version: NEW_VERSION } }, 'the new agent answers on the same port')
  // Adopted by the first reconcile; its status follows the container's state as the new agent reads it.
  let seen: unknown
  await waitFor(async () => {
    seen = await agent.getTool({ params: { name: labelled.instanceName } })
    return (seen as { body?: { data?: { status?: string } } }).body?.data?.status === 'running' ? true : undefined
  }, 30_000, 250)
  t.comment(`the labelled tool as the new agent shows it: ${JSON.stringify(seen)}`)
  t.match(seen, { status: 200, body: { data: { account_tool_instance_id: labelled.accountToolInstanceId, status: 'running' } } }, 'the labelled tool was adopted at start')
  t.equal((await docker.getContainer(unlabelled.id).inspect()).State.Running, true, 'the unlabelled tool is untouched until a deploy names it')
  const info = await docker.getContainer(box.agentName).inspect()
  t.ok(info.Mounts.some((mount) => mount.Name === box.dataVolume && mount.Destination === '/var/lib/dtma'), 'the store is on the named volume now')
  t.equal(info.HostConfig.RestartPolicy?.Name, 'always', 'same restart policy')
  t.ok((info.Config.Env ?? []).includes(`BACKEND_TO_DTMA_API_KEY=${FLEET_KEY}`), 'same settings')
  t.match(
    { memory: info.HostConfig.Memory, capDrop: info.HostConfig.CapDrop, extraHosts: info.HostConfig.ExtraHosts, hostname: info.Config.Hostname },
    { memory: 512 * 1024 * 1024, capDrop: ['NET_RAW'], extraHosts: ['backend.internal:10.0.0.9'], hostname: 'toolbox-earlier' },
    "the operator's limits, capabilities, hosts and host name"
  )
  const backups = readdirSync(box.backupDir)
  t.match(backups, [new RegExp(`^${box.agentName}-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\dZ\\.container\\.json$`)], 'its container config, dated')
  t.equal(statSync(`${box.backupDir}/${backups[0]}`).mode & 0o777, 0o600, 'mode 0600: it holds tokens')
  t.notOk(upgraded.output.includes(TOKEN), 'no token in the upgrade output')
  await agent.removeTool({ params: { name: labelled.instanceName } })
})

t.test('from our previous image through POST /redeploy, then to a broken image, rolled back: the store survives both', async (t) => {
  const box = await newToolbox(t, 'ours')
  // Today's production line: no data volume (the image's VOLUME gives it an anonymous one).
  await runAgent(box, PREVIOUS, ['-e', `DTMA_BACKUP_DIR=${box.backupDir}`, '-e', `DTMA_DATA_VOLUME=${box.dataVolume}`])
  await waitReady(box.url)
  const agent = client(box)
  const name = uniqueName('Upgrade')
  const port = await freePort()
  const body = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: { Env: ['API_KEY=kept'], HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: String(port) }] } }, templateId: 'template-kept' } }
  const deployed = await agent.deployTool({ body })
  t.equal(deployed.status, 201)
  const containerId = deployed.status === 201 ? deployed.body.data.container_id : ''

  // POST /redeploy as the console sends it, with the image to run.
  const events: UpgradeEvent[] = []
  const following = new AbortController()
  const stream = await agent.events({ timeoutMs: 5000, signal: following.signal })
  const reading = stream.status === 200 ? (async () => {
    for await (const event of readServerSentEvents(stream.response)) if (event.event === 'upgrade') events.push(JSON.parse(event.data) as UpgradeEvent)
  })().catch(() => undefined) : Promise.resolve()
  const poll = pollTool(port)
  const started = Date.now()
  const accepted = await agent.redeployAgent({ body: { image: NEW, timeoutSeconds: 90 } })
  t.match(accepted, { status: 202, body: { success: true, operation_id: String } })
  const operationId = accepted.status === 202 ? accepted.body.operation_id : ''
  t.match(await agent.redeployAgent({ body: { image: NEW } }), { status: 409 }, 'a second upgrade while one runs: 409')
  let outcome: UpgradeEvent | undefined
  while (outcome === undefined && Date.now() - started < 180_000) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    // Refused before anything changed: the old agent said so before it would have stopped.
    if (done(events)?.status === 'failed') outcome = done(events)
    const status = await agent.status().catch(() => undefined)
    if (status?.status === 200 && status.body.version === NEW_VERSION) outcome = done(await upgradeEventsNow(box))
  }
  const polls = await poll.stop()
  following.abort()
  await reading
  t.match(outcome, { operation_id: operationId, status: 'succeeded' }, 'the new agent reports the outcome on /events')
  t.ok(events.some((event) => event.operation_id === operationId && event.step === 'stop'), 'the old agent streamed the progress until it stopped')
  t.equal(polls.failures, 0, `no failed poll of the tool (${polls.polls} polls)`)
  t.comment(`previous -> new through POST /redeploy: ${outcome?.elapsed_ms} ms in the helper, ${Date.now() - started} ms until the outcome was read, ${polls.polls} polls, ${polls.failures} failed`)
  t.match(await agent.getTool({ params: { name } }), { status: 200, body: { data: { container_id: containerId, status: 'running' } } }, 'the tool is known and untouched')
  t.match(await storeRecords(box.dataVolume), `[["${name}","template-kept"]]`, 'the store moved onto the named volume (metadata lives only there)')
  t.ok(readdirSync(box.backupDir).some((file) => file.endsWith('.store.tar')), 'the store was backed up')
  const helpers = async () => (await docker.listContainers({ all: true, filters: { label: [`dtma.upgrade-operation=${operationId}`] } })).length
  for (let i = 0; i < 50 && (await helpers()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(await helpers(), 0, 'the helper container is gone')

  const rollbackPoll = pollTool(port)
  const broken = await dtmaUpgrade(box, NEW, ['--image', BROKEN, '--timeout', '30'])
  const rollbackPolls = await rollbackPoll.stop()
  t.equal(broken.code, 1, broken.output)
  const rolledBack = done(broken.events)
  t.match(rolledBack, { status: 'rolled-back', message: /the new agent exited/ })
  t.equal(rollbackPolls.failures, 0, `no failed poll through the rollback (${rollbackPolls.polls} polls)`)
  const rollbackStart = broken.events.find((event) => event.step === 'rollback')?.elapsed_ms ?? 0
  t.comment(`new -> broken, rolled back: ${rolledBack?.elapsed_ms} ms in all, rollback ${(rolledBack?.elapsed_ms ?? 0) - rollbackStart} ms, ${rollbackPolls.polls} polls, ${rollbackPolls.failures} failed`)
  // The agent /redeploy started was stopped by this upgrade: it exited on its own, not after Docker's stop timeout.
  t.notMatch((await run('docker', ['logs', box.agentName])).stdout, /shutdown took too long/, 'the stopped agent exited by itself')
  t.match(await agent.status(), { status: 200, body: { version: NEW_VERSION } }, 'the previous agent answers again')
  t.match(await agent.getTool({ params: { name } }), { status: 200, body: { data: { status: 'running' } } })
  t.match(await storeRecords(box.dataVolume), `[["${name}","template-kept"]]`, 'the store survived the rollback')
  t.equal((await docker.listContainers({ all: true, filters: { name: [`${box.agentName}-previous`] } })).length, 0, 'no container left aside')
  t.equal((await agent.removeTool({ params: { name } })).status, 200)
})
