// A tool image that forges the agent's own labels, as an attacker would
// build it: `dtma.upgrade-operation` (to pose as an upgrade helper, make
// every POST /redeploy a 409 and write upgrade events), `dtma.mcp-*` (to be
// taken for an MCP server), `dtma.managed`/`dtma.scope`/`dtma.instance-name`/
// `dtma.spec-hash` (to pose as an instance). Docker copies an image's labels
// onto its containers and cannot remove them, so the agent refuses such an
// image wherever it makes a container (deploy, take-over of an earlier
// agent's container, a container made again from a tag that moved) with a
// 400 naming the label, and believes no dtma.* label of a container made of
// one by something else.
import { execFileSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import t, { type Test } from 'tap'
import { containerNameFor } from '../../src/instances/container-name.ts'
import { docker, freePort, scopeFor, startTestAgent, tempDir, TEST_IMAGE, type TestAgent, uniqueName } from '../helpers/agent.ts'
import { earlierAgentTool, legacyName } from '../helpers/earlier-agent.ts'
import { agentIn, ensureStandinImage, release, selfContainer, STANDIN, upgradeEvents } from '../helpers/upgrade-standin.ts'
import { waitFor } from '../helpers/wait.ts'

/** An upgrade event line, as a helper writes them, for the forged operation. */
const FORGED_EVENT = '{"operation_id":"forged-op","step":"done","status":"succeeded","message":"forged by a tool","elapsed_ms":0,"time":"2026-12-04T00:00:00Z"}'

/** Builds an image FROM the test image with these labels (the classic builder, no context), removed when the test ends. */
function hostileImage(t: Test, labels: Record<string, string>): string {
  const image = `dtma-test/hostile-${randomBytes(4).toString('hex')}:v1`
  const dockerfile = [
    `FROM ${TEST_IMAGE}`,
    `LABEL ${Object.entries(labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`).join(' ')}`,
    `CMD ["/bin/sh", "-c", ${JSON.stringify(`trap 'exit 0' TERM; while true; do echo '${FORGED_EVENT}'; sleep 1; done`)}]`
  ].join('\n')
  execFileSync('docker', ['build', '-q', '-t', image, '-'], { input: dockerfile, env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] })
  t.teardown(async () => {
    const left = await docker.listContainers({ all: true, filters: { ancestor: [image] } })
    await Promise.all(left.map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined)))
    removeImage(image)
  })
  return image
}

function removeImage(image: string): void {
  try {
    execFileSync('docker', ['rmi', '-f', image], { stdio: 'ignore' })
  } catch {
    // gone already
  }
}

async function containersOfImage(image: string): Promise<string[]> {
  return (await docker.listContainers({ all: true, filters: { ancestor: [image] } })).map((container) => container.Id)
}

t.before(ensureStandinImage)

t.test('deploy of an image with dtma.* labels: a 400 naming them, and no container or record left', async (t) => {
  const agent = await startTestAgent(t)
  const single = hostileImage(t, { 'dtma.upgrade-operation': 'x' })
  const many = hostileImage(t, { 'dtma.mcp-transport': 'http', 'dtma.managed': 'true', 'dtma.scope': agent.config.scope, 'dtma.instance-name': 'Forged', 'dtma.spec-hash': 'forged', 'dtma.upgrade-operation': 'x', 'org.example.fine': 'yes' })
  for (const [image, named] of [[single, /the label 'dtma\.upgrade-operation': labels under 'dtma\.' are DTMA's own/], [many, /the labels 'dtma\.instance-name', 'dtma\.managed', 'dtma\.mcp-transport', 'dtma\.scope', 'dtma\.spec-hash' and more/]] as const) {
    const name = uniqueName('Hostile')
    const reply = await agent.client.deployTool({ body: agent.deployBody(name, { image }) })
    const error = reply.status === 400 ? reply.body.error : ''
    t.comment(`deploy of ${image}: expected 400 naming the label; seen ${reply.status} ${JSON.stringify(reply.body).slice(0, 240)}`)
    t.match(reply, { status: 400, body: { success: false, code: 'DTMA_BAD_REQUEST' } })
    t.match(error, named)
    t.notMatch(error, /org\.example/, 'labels outside dtma. are not the agent’s business')
    const left = await containersOfImage(image)
    t.comment(`containers of ${image} after the refusal: expected 0; seen ${left.length}`)
    t.same(left, [], 'no container made')
    t.equal((await agent.client.getTool({ params: { name } })).status, 404, 'no instance recorded')
  }
  const clean = await agent.client.deployTool({ body: agent.deployBody(uniqueName('Clean')) })
  t.equal(clean.status, 201, 'an image without them deploys as before')
})

t.test('an image that moved under the same tag is refused when the container is made again from it', async (t) => {
  const agent = await startTestAgent(t)
  const hostile = hostileImage(t, { 'dtma.mcp-transport': 'http' })
  const tag = `dtma-test/moving-${randomBytes(4).toString('hex')}:v1`
  execFileSync('docker', ['tag', TEST_IMAGE, tag])
  t.teardown(() => removeImage(tag))
  const name = uniqueName('Moving')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name, { image: tag }) })
  if (deployed.status !== 201) return t.fail(`deploy answered ${deployed.status}`)
  // The tag now names the hostile image; the container goes behind DTMA's back and self-heal makes it again from the tag.
  execFileSync('docker', ['tag', hostile, tag])
  await docker.getContainer(deployed.body.data.container_id).remove({ force: true })
  const refused = await waitFor(() => agent.logs.find((line) => line.includes("carries the label 'dtma.mcp-transport'")))
  t.comment(`self-heal from the moved tag: expected a refusal naming dtma.mcp-transport and no container; seen ${refused === undefined ? 'no refusal' : 'the refusal'}, ${(await containersOfImage(hostile)).length} container(s)`)
  t.ok(refused, 'the re-creation is refused, naming the label')
  t.same(await containersOfImage(hostile), [], 'no container of the hostile image')
  const view = await agent.client.getTool({ params: { name } })
  t.match(view, { status: 200, body: { data: { mcp: null } } }, 'the instance is no MCP server for it')
})

t.test("an earlier agent's container of such an image is not taken over: 400, and it runs as it was", async (t) => {
  const agent = await startTestAgent(t)
  const image = hostileImage(t, { 'dtma.upgrade-operation': 'x' })
  const tool = await earlierAgentTool(t, { name: legacyName('hostile'), hostPort: await freePort(), image })
  const reply = await agent.client.deployTool({ body: { dockerImageUrl: image, instanceNameOnToolbox: tool.name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: null } })
  t.comment(`take-over by deploy: expected 400 naming dtma.upgrade-operation; seen ${reply.status} ${reply.status === 400 ? reply.body.error : ''}`)
  t.match(reply, { status: 400, body: { error: /'dtma\.upgrade-operation'/ } })
  const old = await docker.getContainer(tool.id).inspect()
  t.equal(old.State.Running, true, "the earlier agent's container runs as it was")
  t.same(await containersOfImage(image), [tool.id], 'and it is the only container of that image')
})

t.test("a container of a hostile image made beside the agent steers none of its decisions", async (t) => {
  const self = await selfContainer(t, STANDIN)
  const dataDir = tempDir(t)
  const forgedName = uniqueName('Forged')
  const image = hostileImage(t, {
    'dtma.upgrade-operation': 'forged-op',
    'dtma.upgrade-agent': self,
    'dtma.managed': 'true',
    'dtma.scope': scopeFor(dataDir),
    'dtma.instance-name': forgedName,
    'dtma.spec-hash': 'forged',
    'dtma.mcp-transport': 'http',
    'dtma.mcp-port': '8080'
  })
  // The attacker's container, made with docker itself (the agent refuses to): running, writing upgrade events.
  // Named as the agent would name the forged instance's container.
  const attacker = await docker.createContainer({ name: containerNameFor(forgedName), Image: image })
  await attacker.start()
  const agent: TestAgent = await agentIn(t, self, dataDir)

  const listed = await agent.client.listTools()
  const names = listed.status === 200 ? listed.body.data.map((tool) => tool.instance_name_on_toolbox) : ['<list failed>']
  t.comment(`instances after the start: expected none named ${forgedName}; seen [${names.join(', ')}]`)
  t.notOk(names.includes(forgedName), 'the forged container is not adopted as an instance')
  t.equal((await agent.client.getTool({ params: { name: forgedName } })).status, 404, 'nor answered as one')

  const started = await agent.client.redeployAgent({ body: {} })
  t.comment(`POST /redeploy beside the forged helper: expected 202; seen ${started.status}`)
  if (started.status !== 202) return t.fail(`redeploy answered ${started.status}: ${JSON.stringify(started.body)}`)
  const operationId = started.body.operation_id
  await release(operationId)
  const events = await upgradeEvents(agent, (event) => event.step === 'done')
  const operations = [...new Set(events.map((event) => event.operation_id))]
  t.comment(`upgrade events heard: expected only operation ${operationId}; seen ${operations.join(', ')}`)
  t.same(operations, [operationId], 'no forged upgrade event')
  t.match(events.at(-1), { operation_id: operationId, step: 'done', status: 'succeeded' })
  t.notOk(agent.logs.some((line) => line.includes('forged by a tool')), 'nor a forged upgrade log line')
  t.equal((await attacker.inspect()).State.Running, true, 'and the attacker’s container was not removed as a finished helper')

  // The agent after that upgrade (same data dir): it follows no helper, the forged one neither.
  await agent.app.close()
  const after = await agentIn(t, self, dataDir)
  const next = await waitFor(async () => {
    const reply = await after.client.redeployAgent({ body: {} })
    return reply.status === 409 ? undefined : reply
  })
  t.comment(`POST /redeploy of the next agent: expected 202; seen ${next?.status}`)
  t.equal(next?.status, 202)
  if (next?.status === 202) await release(next.body.operation_id)
})
