// Secrets never reach a log line: the bearer token and tool env values used
// in a full deploy/start/stop/remove round are searched in every log line.
import t from 'tap'
import { authHeaders, startTestAgent, TOKEN, uniqueName } from '../helpers/agent.ts'

t.test('tokens and env values are absent from the logs', async (t) => {
  const agent = await startTestAgent(t)
  const secretValue = 'sk-live-very-secret-value-123'
  const name = uniqueName('Secretive')
  const body = agent.deployBody(name, { env: [`OPENAI_API_KEY=${secretValue}`] })
  t.equal((await agent.client.deployTool({ body })).status, 201)
  await agent.client.stopTool({ params: { name } })
  await agent.client.startTool({ params: { name } })
  await fetch(`${agent.baseUrl}/tools`, { method: 'POST', headers: { ...authHeaders(), 'content-type': 'application/json' }, body: JSON.stringify({ ...body, bogus: { Env: [secretValue] }, dockerImageUrl: 'BAD' }) })
  await fetch(`${agent.baseUrl}/tools/x/start`, { method: 'POST', headers: authHeaders(`${TOKEN}-wrong`) })
  await agent.client.removeTool({ params: { name } })

  t.ok(agent.logs.length > 10, `logs were captured (${agent.logs.length} lines)`)
  t.ok(agent.logs.some((line) => line.includes('OPENAI_API_KEY')), 'env keys may be logged')
  for (const secret of [TOKEN, secretValue]) {
    t.equal(agent.logs.filter((line) => line.includes(secret)).length, 0, `no log line holds ${secret.slice(0, 8)}...`)
  }
})
