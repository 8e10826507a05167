// A server that stops answering (its process stopped with SIGSTOP from the
// host: its container still runs, as with a hung server) is left out of the aggregated listing, not an error: a caller
// whose grant has no open client of it waits at most the gateway's timeout
// for it; once the server is ready again its tools are back.
import t from 'tap'
import { docker, startTestAgent, TEST_AUDIENCE, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { signToolboxToken } from '@dtma/contract'
import { gatewayClientV1 } from '../helpers/gateway.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody } from '../helpers/mcp.ts'
import { waitFor } from '../helpers/wait.ts'

t.before(ensureMcpImages)

// No self-heal: the stopped server stays as it is until the test lets it go on.
const env = { DTMA_TOOL_PORT_RANGE: '43850-43899', DTMA_MCP_START_TIMEOUT_S: '60', DTMA_SELF_HEAL: 'false', DTMA_MCP_PING_INTERVAL_S: '1' }

t.test('an unresponsive server is left out of /mcp and back when it answers again', async (t) => {
  const agent = await startTestAgent(t, { env })
  const stdio = mcpDeployBody(uniqueName('Gw Alive'), MCP_IMAGES.toolsV1, 'stdio')
  const http = mcpDeployBody(uniqueName('Gw Hung'), MCP_IMAGES.toolsV2, 'http', { mcpPort: 3000, environmentVariables: { TOOLS_HTTP_PORT: '3000' } })
  const prefixes: string[] = []
  for (const body of [stdio, http]) {
    agent.deployBody(body.instanceNameOnToolbox)
    const deployed = await agent.client.deployTool({ body: { ...body, waitForMcp: true } })
    t.equal(deployed.status, 201, `${body.instanceNameOnToolbox} ready`)
    prefixes.push(deployed.status === 201 ? (deployed.body.data.mcp?.gateway_prefix ?? '') : '')
  }
  const [alive, hung] = prefixes as [string, string]
  const [container] = await docker.listContainers({ filters: { label: [`dtma.instance-name=${http.instanceNameOnToolbox}`] } })
  // Every process of the container, by its host pid (the server may run under a shell).
  const top = (await docker.getContainer(container?.Id ?? '').top()) as { Titles: string[]; Processes: string[][] }
  const pids = top.Processes.map((row) => Number(row[top.Titles.indexOf('PID')]))
  const signal = (name: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name)
      } catch {
        // Gone already.
      }
    }
  }
  const resume = () => signal('SIGCONT')
  signal('SIGSTOP')
  t.teardown(resume)

  // A caller of its own (another subject): the gateway opens new clients for it, and the stopped server does not answer.
  const token = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: ['mcp'], lifetimeSeconds: 600, subject: 'late-caller' })
  const client = await gatewayClientV1(agent.baseUrl, { token })
  t.teardown(() => client.close())
  const started = performance.now()
  const names = (await client.listTools()).map((tool) => tool.name)
  t.comment(`tools/list with one of two servers stopped: ${(performance.now() - started).toFixed(0)} ms (${names.join(', ')})`)
  t.ok(names.includes(`${alive}_echo`), 'the answering server is listed')
  t.notOk(names.some((name) => name.startsWith(`${hung}_`)), 'the stopped one is left out, and the listing is no error')

  resume()
  const back = await waitFor(async () => ((await client.listTools()).some((tool) => tool.name === `${hung}_multiply`) ? true : undefined), 30_000)
  t.ok(back, 'its tools are back once it answers again')
})
