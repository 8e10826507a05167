// The official MCP conformance suite against its own reference server
// (test-images/mcp/servers/conformance-everything.ts), built as a stdio and
// as an http server and deployed through DTMA, reached on /tools/{name}/mcp
// with an AI agent's scoped mcp token: both eras (0.1.16: 2025-11-25;
// 0.2.0-alpha.12: the 2026-07-28 requirement set, stateless), both
// transports. The suite reaches the server itself only over http, so that
// is "direct" for both: every scenario that passes there must pass through
// DTMA. With DTMA_CONFORMANCE_TABLE=<file> (npm run conformance) the
// per-scenario table is written there.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { signToolboxToken } from '@dtma/contract'
import { docker, startTestAgent, TEST_AUDIENCE, uniqueName, VM_TOKEN } from '../helpers/agent.ts'
import { credentialHop, ERAS, runConformance, writeTable, type TableRow } from '../helpers/conformance.ts'
import { ensureMcpImages, mcpDeployBody } from '../helpers/mcp.ts'

t.before(ensureMcpImages)

/** What the reference server's stdio form cannot pass, whoever relays it: the fixtures these scenarios call
 *  (the test_input_required_result_* tools and prompt, which answer with an input-required result of their own, and
 *  test_missing_capability) live only in its http handler's stateless path, not in the McpServer its stdio form serves. */
const STDIO_FIXTURE_GAP = 'fixture only in the reference http handler'
const stdioGap = (scenario: string): boolean => scenario.startsWith('input-required-result-') || scenario === 'server-stateless'

const IMAGES = { stdio: 'dtma-test/mcp-conformance:stdio', http: 'dtma-test/mcp-conformance:http' } as const

/** The reference server's http form on a loopback port of its own, outside DTMA. */
async function directServer(t: Test): Promise<string> {
  const container = await docker.createContainer({
    Image: IMAGES.http,
    name: `dtma-test-conformance-${randomBytes(4).toString('hex')}`,
    HostConfig: { PortBindings: { '3001/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] }, AutoRemove: true }
  })
  t.teardown(() => container.remove({ force: true }).catch(() => undefined))
  await container.start()
  const port = (await container.inspect()).NetworkSettings.Ports['3001/tcp']?.[0]?.HostPort
  const url = `http://localhost:${port}/mcp`
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const answer = await fetch(url, { method: 'GET' }).catch(() => undefined)
    if (answer !== undefined) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return url
}

t.test('no conformance scenario is lost through DTMA, per era and transport', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '43740-43749' } })
  const urls: Record<string, string> = {}
  const ids: string[] = []
  for (const transport of ['stdio', 'http'] as const) {
    const name = uniqueName(`Conformance-${transport}`)
    agent.deployBody(name)
    // The default drift lock stays on: the suite's run-time tool changes must not cost a scenario.
    const body = { ...mcpDeployBody(name, IMAGES[transport], transport), waitForMcp: true }
    ids.push(body.accountToolInstanceId)
    t.equal((await agent.client.deployTool({ body })).status, 201, `${transport}: deployed`)
    urls[transport] = `/tools/${encodeURIComponent(name)}/mcp`
  }
  // What an AI agent holds: an mcp token for these two instances, every tool of them.
  const scoped = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: ['mcp'], lifetimeSeconds: 600, instances: ids, subject: 'conformance' })
  const hop = `http://localhost:${await credentialHop(t, agent.port, scoped)}`
  const direct = await directServer(t)

  const rows: TableRow[] = []
  for (const era of ERAS) {
    const baseline = await runConformance(t, era, direct)
    t.ok(baseline.size > 20, `${era}: the suite ran its scenarios directly (${baseline.size})`)
    for (const transport of ['stdio', 'http'] as const) {
      const through = await runConformance(t, era, `${hop}${urls[transport]}`)
      const names = [...new Set([...baseline.keys(), ...through.keys()])]
      const gap = (scenario: string) => transport === 'stdio' && era === '2026-07-28' && stdioGap(scenario)
      for (const scenario of names) rows.push({ scenario, era, transport, direct: baseline.get(scenario), through: through.get(scenario), ...(gap(scenario) && { note: STDIO_FIXTURE_GAP }) })
      const lost = names.filter((scenario) => baseline.get(scenario)?.passed === true && through.get(scenario)?.passed !== true && !gap(scenario))
      const passed = (results: typeof baseline) => [...results.values()].filter((result) => result.passed).length
      t.comment(`${era} | ${transport} | direct ${passed(baseline)}/${baseline.size} | through DTMA ${passed(through)}/${through.size} | lost: ${lost.join(', ') || 'none'}`)
      t.same(lost, [], `${era} over ${transport}: every scenario passing directly passes through DTMA`)
    }
    // The toolbox's aggregated /mcp serves both servers under their prefixes: a scenario that calls one of the
    // reference server's tools, prompts or resources by its own name cannot pass there. Figures only (npm run conformance).
    if (process.env.DTMA_CONFORMANCE_TABLE !== undefined) {
      const through = await runConformance(t, era, `${hop}/mcp`)
      for (const scenario of new Set([...baseline.keys(), ...through.keys()])) {
        rows.push({ scenario, era, transport: 'both, on /mcp', direct: baseline.get(scenario), through: through.get(scenario), note: 'names prefixed on /mcp' })
      }
    }
  }
  if (process.env.DTMA_CONFORMANCE_TABLE !== undefined) writeTable(process.env.DTMA_CONFORMANCE_TABLE, rows)
})
