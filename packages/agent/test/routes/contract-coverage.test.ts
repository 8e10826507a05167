// Every route in the contract table is served by the agent, and the agent
// serves nothing that is not in the table: the two cannot drift.
import { routes } from '@dtma/contract'
import t from 'tap'
import { startTestAgent } from '../helpers/agent.ts'

/** "METHOD /path" for every route in Fastify's printed tree (HEAD twins of
 *  GET left out). Each tree level is indented by four characters. */
function servedRoutes(printed: string): string[] {
  const served: string[] = []
  const segments: string[] = []
  for (const line of printed.split('\n')) {
    const match = /^([\s│├└─]*)(\/\S*)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!match) continue
    const depth = (match[1] as string).length / 4
    segments.length = depth
    segments.push(match[2] as string)
    for (const method of match[3]?.split(', ') ?? []) {
      if (method !== 'HEAD') served.push(`${method} ${segments.join('')}`)
    }
  }
  return served.sort()
}

t.test('agent routes and contract table are the same set', async (t) => {
  const agent = await startTestAgent(t)
  const declared = Object.values(routes).map((route) => `${route.method} ${route.path}`).sort()
  const served = servedRoutes(agent.app.printRoutes({ commonPrefix: false }))
  t.same(served, declared)
  for (const route of Object.values(routes)) {
    t.ok(agent.app.hasRoute({ method: route.method, url: route.path }), `${route.method} ${route.path} is served`)
  }
})

t.test('the paths Agentopia calls today are in the table', async (t) => {
  const declared = new Set(Object.values(routes).map((route) => `${route.method} ${route.path}`))
  for (const path of ['POST /tools', 'POST /tools/:name/start', 'POST /tools/:name/stop', 'DELETE /tools/:name', 'GET /tools/status', 'GET /status', 'GET /health']) {
    t.ok(declared.has(path), path)
  }
})
