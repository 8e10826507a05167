// The CLI's fleet commands through its real binary against a real agent and
// Docker engine: `dtma legacy` lists an earlier agent's container and why,
// `dtma adopt` takes it over with its id, and `dtma --version` says which
// build this is.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { dtma } from './helpers/run-cli.ts'
import { freePort, startTestAgent, TEST_IMAGE } from '../../agent/test/helpers/agent.ts'
import { earlierAgentTool, legacyName } from '../../agent/test/helpers/earlier-agent.ts'

t.test('dtma legacy and dtma adopt', async (t) => {
  const agent = await startTestAgent(t)
  const tool = await earlierAgentTool(t, { name: legacyName('cli-legacy'), hostPort: await freePort() })

  const listed = await dtma(agent, ['legacy'])
  t.equal(listed.code, 0, listed.stderr)
  const [header, ...rows] = listed.stdout.trimEnd().split('\n')
  t.match(header, /^CONTAINER\s+INSTANCE\s+ID\s+IMAGE\s+PORTS\s+DOCKER\s+AGE\s+TAKEN\s+WHY$/)
  t.match(rows.find((row) => row.startsWith(tool.name)), new RegExp(`${TEST_IMAGE}.*127\\.0\\.0\\.1:${tool.hostPort}->8080/tcp.*when named\\s+unlabelled,restart-unless-stopped`))

  t.match(await dtma(agent, ['adopt']), { code: 2, stderr: /'adopt' takes one container name/ })
  t.match(await dtma(agent, ['adopt', tool.name, '--id', '']), { code: 2 })
  const id = randomUUID()
  const adopted = await dtma(agent, ['adopt', tool.name, '--id', id])
  t.equal(adopted.code, 0, adopted.stderr)
  t.match(adopted.stdout, `The earlier agent's container '${tool.name}' is tool instance '${tool.name}' now`)
  t.match(adopted.stdout, new RegExp(`account tool instance:\\s+${id}`))
  t.match(await dtma(agent, ['adopt', tool.name]), { code: 1, stderr: /No container of an earlier agent is named/ }, 'the agent refuses: exit 1 with its sentence')
  t.equal((await dtma(agent, ['rm', tool.name])).code, 0)
})

t.test('dtma --version', async (t) => {
  const result = await dtma({ baseUrl: 'http://127.0.0.1:1' }, ['--version'])
  t.equal(result.code, 0)
  t.match(result.stdout, /^dtma \d+\.\d+\.\d+\S* \(commit \S+\)\n$/)
})
