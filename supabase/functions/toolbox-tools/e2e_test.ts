// End to end: Agentopia's frontend (the caller replica, supabase-js against
// the stand-in's gateway) drives DTMA's functions, in Deno, against a real
// DTMA agent process on loopback driving the real Docker engine; the agent's
// own heartbeats reach the heartbeat function through the same gateway.
// adminMCPService deploys an MCP server whose name has spaces and asks for
// the agent's own port as host port, as it always does (30000); the agent
// binds another one, which is stored; then both lists, stop, start, restart and logs in the body form,
// the heartbeat, the refresh at toolboxes-user, and the delete. The rows,
// the container and the tool's own HTTP answer are checked at each step.
import * as assert from '../_test/assert.ts'
import { AgentopiaFrontend, serveFunctions } from '../_test/agentopia-frontend.ts'
import { startAgent } from '../_test/agent-process.ts'
import { containersOf, removeContainersOf } from '../_test/docker.ts'
import { createWorld } from '../_test/fixtures.ts'

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

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

Deno.test({
  name: "Agentopia's frontend on a real agent and Docker: deploy, lists, stop, start, restart, logs, heartbeat, refresh, delete",
  async fn() {
    const instanceName = `Context7 MCP Server-${Date.now()}${Math.floor(Math.random() * 1000)}`
    const world = await createWorld('127.0.0.1')
    const heartbeatToken = `dtma-${crypto.randomUUID()}`
    await world.standIn.update('account_tool_environments', world.toolboxId, { status: 'awaiting_heartbeat', dtma_bearer_token: heartbeatToken })
    const agent = await startAgent({
      OFFLINE_MODE: 'false',
      AGENTOPIA_API_BASE_URL: `${world.standIn.url}/functions/v1`,
      DTMA_BEARER_TOKEN: heartbeatToken,
      DTMA_HEARTBEAT_INTERVAL_S: '1'
    }).catch(async (error) => {
      await world.close() // the world's database goes too
      throw error
    })
    serveFunctions(world, { token: agent.token, port: agent.port })
    const frontend = new AgentopiaFrontend(world, world.userJwt)
    try {
      const { deployment, mcpUpdate } = await frontend.deployMCPServer(world.toolboxId, {
        serverName: instanceName,
        serverType: 'mcp_server',
        dockerImage: 'dtma-test/busybox:v1',
        transport: 'http',
        environmentVariables: { CONTEXT7_MODE: 'e2e' },
        // adminMCPService asks for 30000, the agent's own port in production; here the agent listens on agent.port.
        portMappings: [{ containerPort: 8080, hostPort: agent.port }]
      })
      assert.equal(deployment.status, 201, JSON.stringify(deployment.error))
      assert.equal(mcpUpdate, null)
      const id = String(deployment.data?.id)
      assert.equal(deployment.data?.status, 'running')
      const [bound] = deployment.data?.ports as Array<{ container_port: number; host_port: number }>
      assert.equal(bound?.container_port, 8080)
      const hostPort = bound!.host_port
      assert.ok(hostPort !== agent.port, 'never the agent port')
      assert.ok((deployment.data?.warnings as string[]).some((warning) => warning.includes(String(agent.port))), "the agent's reassignment reaches the caller")
      const row = (await world.standIn.row('account_tool_instances', id))!
      assert.deepEqual((row.base_config_override_json as { portMappings: unknown }).portMappings, [{ containerPort: 8080, hostPort, protocol: 'tcp' }])
      assert.equal(row.mcp_transport_type, 'http')

      let [container, ...more] = await containersOf(instanceName)
      assert.equal(more.length, 0, 'one container per instance')
      assert.ok(container?.running, 'container runs after deploy')
      assert.ok(container.name.startsWith('dtma-'))
      assert.equal(container.labels['dtma.account-tool-instance-id'], id)
      assert.equal(await toolAnswer(hostPort), 'dtma-test-ok')

      const health = await frontend.supabase.functions.invoke('toolbox-tools', { body: { toolboxId: world.toolboxId } })
      assert.equal(health.data.dtma_connected, true)
      const listed = (health.data.tool_instances as Array<{ id: string; account_tool_instance_id: string }>).find((item) => item.account_tool_instance_id === id)
      assert.ok(listed, 'the live list shows the instance')
      assert.deepEqual((await frontend.listToolInstancesForToolbox(world.toolboxId)).map((r) => r.id), [id])

      assert.equal((await frontend.stopMCPServer(world.toolboxId, id)).data?.status, 'stopped')
      ;[container] = await containersOf(instanceName)
      assert.equal(container?.running, false, 'container stopped')
      assert.equal((await frontend.startMCPServer(world.toolboxId, id)).data?.status, 'running')
      assert.equal(await toolAnswer(hostPort), 'dtma-test-ok')
      const restarted = await frontend.toolboxAction(world.toolboxId, 'restart', listed.id)
      assert.equal(restarted.status, 200, JSON.stringify(restarted.error))
      ;[container] = await containersOf(instanceName)
      assert.equal(container?.running, true, 'container running again')
      const logs = await frontend.toolboxAction(world.toolboxId, 'logs', id)
      assert.equal(logs.status, 200, JSON.stringify(logs.error))
      assert.ok(Array.isArray(logs.data?.logs))

      // The agent's own heartbeats, through the gateway to the heartbeat function.
      await eventually('a heartbeat with the instance', async () => (await world.standIn.row('account_tool_instances', id))?.last_heartbeat_from_dtma !== null)
      const environment = (await world.standIn.row('account_tool_environments', world.toolboxId))!
      assert.equal(environment.status, 'active', 'the first heartbeat made the toolbox active')
      assert.equal(typeof environment.dtma_last_known_version, 'string')
      assert.equal(typeof (environment.dtma_health_details_json as { memory: { total_bytes: number } }).memory.total_bytes, 'number')
      const beats = world.standIn.functionRequests.filter((r) => r.path === '/functions/v1/heartbeat')
      assert.ok(beats.length > 0 && beats.every((r) => r.headers.authorization === `Bearer ${heartbeatToken}`))

      const refreshed = await frontend.refreshToolboxStatus(world.toolboxId)
      assert.equal(refreshed.data?.status, 'active')
      assert.ok(!('dtma_bearer_token' in (refreshed.data ?? {})))

      const removed = await frontend.deleteMCPServer(world.toolboxId, id)
      assert.equal(removed.status, 200, JSON.stringify(removed.error))
      assert.deepEqual(await containersOf(instanceName), [], 'container gone')
      assert.equal((await world.standIn.rows('account_tool_instances')).length, 0, 'row gone')
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
