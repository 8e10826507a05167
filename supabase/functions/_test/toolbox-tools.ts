// A toolbox-tools handler over one test world and a scripted agent, called
// the way the Supabase gateway hands it requests: the tests' common setup.
import { handleRequest } from '../toolbox-tools/handler.ts'
import { fakeAgent, type AgentCall, type AgentReply } from './fake-agent.ts'
import { createWorld, request } from './fixtures.ts'

export const AGENT_TOKEN = 'backend-to-dtma-key-0123456789abcdef'
export const NOW = new Date('2025-06-19T10:00:00.000Z')

export async function toolboxTools(script: (call: AgentCall) => AgentReply, toolboxIp = '127.0.0.1') {
  const world = await createWorld(toolboxIp)
  const agent = fakeAgent(script)
  const deps = { db: world.db, agent: { token: AGENT_TOKEN, port: 30000, fetch: agent.fetch, statusTimeoutMs: 200, deployTimeoutMs: 300 }, now: () => NOW }
  /** `path` after /toolbox-tools, e.g. `/${world.toolboxId}/tools`. */
  const call = async (method: string, path: string, body?: unknown, jwt: string | null = world.userJwt) => {
    const response = await handleRequest(request(method, `/toolbox-tools${path}`, jwt ?? undefined, body), deps)
    return { status: response.status, body: await response.json() }
  }
  return { world, agent, call }
}
