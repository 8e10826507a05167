// The functions' status reads against a real agent with its defaults
// (DTMA_PUBLIC_STATUS=minimal: no instances for a caller without a valid
// token). The refresh sends the token on GET /status and so mirrors the
// instance; with a key the agent does not take, the hidden list is a
// failure (the toolbox unresponsive, with the reason), never "no tools".
import * as assert from '../_test/assert.ts'
import { startAgent } from '../_test/agent-process.ts'
import { removeContainersOf } from '../_test/docker.ts'
import { createWorld, request, seedInstance } from '../_test/fixtures.ts'
import { createDtmaClient } from '../../../packages/contract/src/index.ts'
import { handleRequest } from './handler.ts'

Deno.test('the refresh reads GET /status with the token: a real agent with its defaults names its instances to it only', async () => {
  const instanceName = `Status Token ${Date.now()}${Math.floor(Math.random() * 1000)}`
  const world = await createWorld('127.0.0.1')
  const agent = await startAgent().catch(async (error) => {
    await world.close() // the world's database goes too
    throw error
  })
  try {
    const id = await seedInstance(world, world.toolboxId, instanceName)
    const client = createDtmaClient({ baseUrl: `http://127.0.0.1:${agent.port}`, token: agent.token, timeoutMs: 60_000 })
    const deployed = await client.deployTool({ body: { dockerImageUrl: 'dtma-test/busybox:v1', instanceNameOnToolbox: instanceName, accountToolInstanceId: id, baseConfigOverrideJson: null } })
    assert.equal(deployed.status, 201, JSON.stringify(deployed.body))

    const anonymous = await (await fetch(`http://127.0.0.1:${agent.port}/status`)).json()
    console.log(`GET /status without a token: expected tool_instances [] (hidden); seen ${JSON.stringify(anonymous.tool_instances)}, hidden ${anonymous.tool_instances_hidden}`)
    assert.deepEqual(anonymous.tool_instances, [])

    const refreshWith = async (token: string) => {
      const sent: Array<string | null> = []
      const recording: typeof fetch = (input, init) => {
        sent.push(new Headers(init?.headers).get('authorization'))
        return fetch(input, init)
      }
      const response = await handleRequest(request('POST', '/refresh-status', world.userJwt, { toolboxId: world.toolboxId }), {
        db: world.db,
        agent: { token, port: agent.port, fetch: recording }
      })
      return { status: response.status, body: await response.json(), sent }
    }

    const good = await refreshWith(agent.token)
    console.log(`refresh with the key: expected Authorization on GET /status, the toolbox active, 1 instance mirrored; seen ${good.sent.map((header) => (header === `Bearer ${agent.token}` ? 'the token' : String(header))).join(', ')}, ${JSON.stringify(good.body.data)}`)
    assert.equal(good.status, 200, JSON.stringify(good.body))
    assert.deepEqual(good.sent, [`Bearer ${agent.token}`])
    assert.equal(good.body.data[0].status, 'active')
    assert.equal(good.body.data[0].instancesUpdated, 1)
    const row = (await world.standIn.row('account_tool_instances', id))
    assert.equal(row?.status_on_toolbox, 'running')

    row!.status_on_toolbox = 'deploying'
    const wrong = await refreshWith(`wrong-${crypto.randomUUID()}`)
    console.log(`refresh with a key the agent does not take: expected unresponsive with the reason, the row untouched; seen ${JSON.stringify(wrong.body.data)}, row ${row?.status_on_toolbox}`)
    assert.equal(wrong.body.data[0].status, 'unresponsive')
    assert.ok(/hid its instances/.test(wrong.body.data[0].error), wrong.body.data[0].error)
    assert.equal((await world.standIn.row('account_tool_environments', world.toolboxId))!?.status, 'unresponsive')
    assert.equal(row?.status_on_toolbox, 'deploying', 'no instance row written from a hidden list')
  } catch (error) {
    console.error(`agent output:\n${agent.output()}`)
    throw error
  } finally {
    await removeContainersOf(instanceName)
    await agent.stop()
    await world.close()
  }
})
