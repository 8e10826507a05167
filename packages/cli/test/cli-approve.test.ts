// `dtma approve` through the CLI's real binary against a real agent and a
// real stdio MCP server whose tools changed at run time: one tool approved
// by name (the other stays withheld), a tool the server does not list is
// the agent's refusal (exit 1), then all of them; a usage mistake is exit 2.
import t from 'tap'
import { dtma } from './helpers/run-cli.ts'
import { startTestAgent, uniqueName } from '../../agent/test/helpers/agent.ts'
import { callOutcome, DRIFT_IMAGES, ensureDriftImages, listedNames, row } from '../../agent/test/helpers/drift.ts'
import { mcpClient, mcpDeployBody } from '../../agent/test/helpers/mcp.ts'
import { waitFor } from '../../agent/test/helpers/wait.ts'

t.before(ensureDriftImages)

t.test('dtma approve', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '43570-43589' } })
  const name = uniqueName('Cli Drift')
  agent.deployBody(name)
  t.equal((await agent.client.deployTool({ body: { ...mcpDeployBody(name, DRIFT_IMAGES.v1, 'stdio'), waitForMcp: true } })).status, 201)
  const client = await mcpClient(agent.baseUrl, name)
  await callOutcome(client, 'mutate', {})
  t.ok(await waitFor(async () => {
    const view = await agent.client.getTool({ params: { name } })
    return view.status === 200 && view.body.data.mcp?.tools_withheld?.length === 2 ? true : undefined
  }), 'lookup changed and backdoor new: both withheld')

  const one = await dtma(agent, ['approve', name, '--tool', 'lookup'])
  row(t, 'dtma approve NAME --tool lookup', 'exit 0, approved "lookup"; still withheld: "backdoor"', `exit ${one.code}, ${one.stdout.trim()}`)
  t.equal(one.code, 0, one.stderr)
  t.match(one.stdout, /approved "lookup"; still withheld: "backdoor"\./)
  t.same(await listedNames(client), ['echo', 'lookup', 'mutate'], 'lookup is back, backdoor still withheld')

  const unknown = await dtma(agent, ['approve', name, '--tool', 'nope'])
  row(t, 'dtma approve NAME --tool nope', 'exit 1, lists no tool "nope"', `exit ${unknown.code}, ${unknown.stderr.trim()}`)
  t.match(unknown, { code: 1, stderr: /lists no tool "nope"/ })

  const all = await dtma(agent, ['approve', name])
  row(t, 'dtma approve NAME', 'exit 0, approved "backdoor"', `exit ${all.code}, ${all.stdout.trim()}`)
  t.match(all, { code: 0, stdout: /approved "backdoor"\./ })
  t.same(await listedNames(client), ['backdoor', 'echo', 'lookup', 'mutate'])
  await client.close()

  t.match(await dtma(agent, ['approve']), { code: 2, stderr: /'approve' takes one instance name/ })
  t.match(await dtma(agent, ['approve', name, '--arg', 'x=1']), { code: 2, stderr: /'approve' does not take --arg/ })
})
