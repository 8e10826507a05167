// End to end: the toolbox-tools handler, in Deno, against a real DTMA agent
// process on loopback driving the real Docker engine, with supabase-js
// talking to the Supabase stand-in. A catalog tool whose name has spaces is
// deployed, stopped, started and deleted; the rows, the container and the
// tool's own HTTP answer are checked at each step.
import * as assert from '../_test/assert.ts'
import { startAgent } from '../_test/agent-process.ts'
import { containersOf, removeContainersOf } from '../_test/docker.ts'
import { createWorld, request } from '../_test/fixtures.ts'
import { handleRequest } from './handler.ts'

async function toolAnswer(hostPort: number): Promise<string> {
  // busybox httpd in the test image answers `dtma-test-ok`; give it a moment to bind.
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      return (await (await fetch(`http://127.0.0.1:${hostPort}/`)).text()).trim()
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  return 'no answer'
}

Deno.test({
  name: 'deploy, stop, start and delete a tool with spaces in its name on a real agent and Docker',
  async fn() {
    const instanceName = `Context7 MCP Server-${Date.now()}${Math.floor(Math.random() * 1000)}`
    const agent = await startAgent()
    const world = createWorld('127.0.0.1')
    const deps = { db: world.db, agent: { token: agent.token, port: agent.port } }
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await handleRequest(request(method, `/toolbox-tools/${world.toolboxId}${path}`, world.userJwt, body), deps)
      return { status: response.status, body: await response.json() }
    }
    try {
      const deployed = await call('POST', '/tools', {
        toolCatalogId: world.catalogId,
        instanceNameOnToolbox: instanceName,
        baseConfigOverrideJson: { environmentVariables: { CONTEXT7_MODE: 'e2e' }, containerPort: 8080 }
      })
      assert.equal(deployed.status, 201, JSON.stringify(deployed.body))
      const id: string = deployed.body.data.id
      const hostPort: number = deployed.body.data.host_port
      assert.equal(deployed.body.data.status_on_toolbox, 'running')
      assert.ok(hostPort !== agent.port && hostPort !== 30000, 'never the agent port')

      let [container, ...more] = await containersOf(instanceName)
      assert.equal(more.length, 0, 'one container per instance')
      assert.ok(container?.running, 'container runs after deploy')
      assert.ok(container.name.startsWith('dtma-'))
      assert.equal(container.labels['dtma.account-tool-instance-id'], id)
      assert.equal(await toolAnswer(hostPort), 'dtma-test-ok')

      const stopped = await call('POST', `/tools/${id}/stop`)
      assert.equal(stopped.status, 200, JSON.stringify(stopped.body))
      assert.equal(stopped.body.data.status_on_toolbox, 'stopped')
      ;[container] = await containersOf(instanceName)
      assert.equal(container?.running, false, 'container stopped')

      const started = await call('POST', `/tools/${id}/start`)
      assert.equal(started.status, 200, JSON.stringify(started.body))
      assert.equal(started.body.data.status_on_toolbox, 'running')
      ;[container] = await containersOf(instanceName)
      assert.equal(container?.running, true, 'container running again')
      assert.equal(await toolAnswer(hostPort), 'dtma-test-ok')

      const removed = await call('DELETE', `/tools/${id}`)
      assert.equal(removed.status, 200, JSON.stringify(removed.body))
      assert.deepEqual(await containersOf(instanceName), [], 'container gone')
      assert.equal(world.standIn.tables.account_tool_instances.length, 0, 'row gone')

      assert.deepEqual(world.standIn.statusHistory.get(id), ['deploying', 'running', 'stopping', 'stopped', 'starting', 'running', 'pending_delete'])
      assert.deepEqual(world.standIn.violations, [])
    } catch (error) {
      console.error(`agent output:\n${agent.output()}`)
      throw error
    } finally {
      await removeContainersOf(instanceName)
      await agent.stop()
      await world.close()
    }
  }
})
