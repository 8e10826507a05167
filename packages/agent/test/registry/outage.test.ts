// Supabase down for 30 s while 50 instance changes happen, the agent killed
// with SIGKILL in the middle: the API keeps answering, and once Supabase is
// back dtma_container_registry equals Docker's truth (zero lost updates).
// The agent writes through the real `registry` edge function (Deno) with its
// own token; the function answers 500 while the database behind it is down.
// Prints the outbox catch-up time (Supabase back -> table right).
import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import { createDtmaClient, SCOPES, signToolboxToken, type DtmaClient } from '@dtma/contract'
import { docker, freePort, removeInstances, scopeFor, TEST_AUDIENCE, TEST_IMAGE, TEST_TOKEN_LIFETIME_S, tempDir, uniqueName } from '../helpers/agent.ts'
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.ts'
import { registryBackend, setToolboxToken } from '../helpers/edge-function.ts'
import { createTestDatabase, seedInstances } from '../helpers/postgres.ts'
import { waitFor } from '../helpers/wait.ts'

const OUTAGE_MS = 30_000
const SECRET = `outage-secret-${randomBytes(6).toString('hex')}`

t.test('a 30 s Supabase outage with 50 changes and a kill -9 loses nothing', { timeout: 240_000 }, async (t) => {
  const db = await createTestDatabase(t)
  const names = Array.from({ length: 9 }, (_, i) => uniqueName(`Outage${i + 1}`))
  const ids = names.map(() => randomUUID())
  const { environmentId } = await seedInstances(db.pool, randomUUID(), ids)
  const vmToken = `outage-toolbox-${randomBytes(16).toString('hex')}`
  await setToolboxToken(db.pool, environmentId, vmToken)
  const { rest, fn, serviceRoleKey: key } = await registryBackend(t, db.pool)
  const dataDir = tempDir(t)
  const port = await freePort()
  const env = { SUPABASE_URL: fn.url, DTMA_BEARER_TOKEN: vmToken }
  // The agent's secret is the toolbox's of the database: its callers sign with it.
  const token = await signToolboxToken(vmToken, { audience: TEST_AUDIENCE, scopes: SCOPES, lifetimeSeconds: TEST_TOKEN_LIFETIME_S })
  const clientOf = (process: AgentProcess): DtmaClient => createDtmaClient({ baseUrl: process.baseUrl, token, timeoutMs: 60_000 })
  const outputs: string[] = []
  let agent: AgentProcess = spawnAgent(dataDir, port, env)
  t.teardown(async () => {
    await agent.kill()
    await removeInstances(names)
  })
  await agent.ready()

  let changes = 0
  const apiTimes: number[] = []
  const step = async (work: (client: DtmaClient, name: string, index: number) => Promise<{ status: number }>, indexes: number[]) => {
    await Promise.all(
      indexes.map(async (i) => {
        const started = Date.now()
        const reply = await work(clientOf(agent), names[i]!, i)
        apiTimes.push(Date.now() - started)
        t.ok(reply.status === 200 || reply.status === 201, `change on ${i + 1}: ${reply.status}`)
        changes++
      })
    )
  }
  const deploy = (client: DtmaClient, name: string, i: number) =>
    client.deployTool({ body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: ids[i]!, baseConfigOverrideJson: { Env: [`API_KEY=${SECRET}`, 'MODE=test'] } } })
  const stop = (client: DtmaClient, name: string) => client.stopTool({ params: { name } })
  const start = (client: DtmaClient, name: string) => client.startTool({ params: { name } })
  const remove = (client: DtmaClient, name: string) => client.removeTool({ params: { name } })

  await step(deploy, [0, 1, 2, 3])
  changes = 0
  t.ok(await waitFor(async () => ((await db.pool.query('select count(*)::int as n from dtma_container_registry')).rows[0].n === 4 ? true : undefined)), 'rows before the outage')

  await rest.down()
  const outageStarted = Date.now()
  await step(deploy, [4, 5])
  await step(stop, [0, 1, 2, 3, 4, 5])
  await step(start, [0, 1, 2, 3, 4, 5])
  await step(stop, [0, 1, 2])
  await step(remove, [3])
  await step(stop, [4, 5])
  await step(start, [0, 1, 2])
  await step(remove, [4])
  await step(deploy, [6])
  t.equal(changes, 25, 'first half of the changes')

  await agent.kill('SIGKILL')
  outputs.push(agent.output())
  agent = spawnAgent(dataDir, port, env)
  await agent.ready()

  await step(deploy, [7])
  await step(stop, [0, 1, 2, 5, 6, 7])
  await step(start, [0, 1, 2, 5, 6, 7])
  await step(stop, [1, 5])
  await step(remove, [2])
  await step(deploy, [3])
  await step(start, [5])
  await step(stop, [6, 7])
  await step(start, [6])
  await step(remove, [7])
  await step(deploy, [8])
  await step(stop, [8])
  await step(start, [8])
  t.equal(changes, 50, 'fifty changes in all')
  t.ok(Math.max(...apiTimes) < 10_000, `the API never waited on Supabase (slowest change ${Math.max(...apiTimes)} ms)`)

  const wait = OUTAGE_MS - (Date.now() - outageStarted)
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  const requestsBefore = rest.requests.length
  await rest.up()
  const back = Date.now()

  // Docker's truth: this agent's containers, their ids and states, and the status the agent derives.
  const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scopeFor(dataDir)}`] } })
  const listed = await clientOf(agent).listTools()
  const statusOf = new Map(listed.status === 200 ? listed.body.data.map((instance) => [instance.account_tool_instance_id, instance.status]) : [])
  const truth = containers
    .map((container) => {
      const id = container.Labels['dtma.account-tool-instance-id'] ?? ''
      return { account_tool_instance_id: id, container_id: container.Id, dtma_status: statusOf.get(id), docker_status: container.State }
    })
    .sort((a, b) => a.account_tool_instance_id.localeCompare(b.account_tool_instance_id))
  t.equal(truth.length, 6, 'six instances remain')
  t.same(new Set(truth.map((row) => row.dtma_status)), new Set(['running', 'stopped']))

  const table = async () =>
    (await db.pool.query('select account_tool_instance_id, container_id, dtma_status, docker_status from dtma_container_registry order by account_tool_instance_id')).rows
  const caughtUp = await waitFor(async () => (JSON.stringify(await table()) === JSON.stringify(truth) ? Date.now() : undefined), 60_000, 50)
  const finalTable = await table()
  t.same(finalTable, truth, 'the table equals Docker after recovery')
  t.ok(caughtUp !== undefined, 'caught up')
  const catchUpMs = (caughtUp ?? Date.now()) - back
  const catchUpRequests = rest.requests.length - requestsBefore
  t.comment(`outbox catch-up after a ${Math.round((back - outageStarted) / 1000)} s outage with ${changes} changes and a kill -9: ${catchUpMs} ms, ${catchUpRequests} requests`)
  const lost = truth.filter((expected) => !finalTable.some((row) => JSON.stringify(row) === JSON.stringify(expected))).length
  const stale = finalTable.filter((row) => !truth.some((expected) => expected.account_tool_instance_id === row.account_tool_instance_id)).length
  t.comment(`through the registry function: ${fn.calls.length} calls (${fn.calls.filter((call) => call.status === 200).length} ok, ${fn.calls.filter((call) => call.status >= 500).length} failed while the database was down); rows mirrored ${finalTable.length}/${truth.length}, lost ${lost}, removed rows left ${stale}`)
  t.equal(lost + stale, 0, 'nothing lost')

  outputs.push(agent.output())
  for (const [i, output] of outputs.entries()) {
    t.ok(output.split('\n').filter((line) => line.includes('registry unreachable')).length <= 1, `agent ${i + 1} logged the outage at most once`)
    t.notOk(output.includes(SECRET) || output.includes(key) || output.includes(vmToken), `agent ${i + 1} never logged an env value, the key or its token`)
  }
  t.notOk(JSON.stringify(rest.requests).includes(SECRET) || JSON.stringify(fn.calls).includes(SECRET), 'no env value ever sent')
  t.notOk(JSON.stringify(fn.calls).includes(key), 'the agent never sent the service-role key')
})
