// Asks an agent over HTTP what an upgrade must know: is it ready, which
// version answers, which instances it runs. The upgrader checks the new
// agent where its callers reach it (its published port on this host).
import { createDtmaClient } from '@dtma/contract'

const PROBE_TIMEOUT_MS = 2000

export interface AgentAnswer {
  version: string
  commit: string
  /** Instance name -> status, from GET /tools (undefined without a token). */
  instances: Map<string, string> | undefined
}

/** 200 on /health/ready (this agent), or on /health (an earlier agent, which has no readiness route). */
export async function answers(url: string, lenient: boolean): Promise<boolean> {
  const client = createDtmaClient({ baseUrl: url, timeoutMs: PROBE_TIMEOUT_MS })
  const ready = await client.ready().catch(() => undefined)
  if (ready?.status === 200) return true
  // An earlier agent answers 404 there: the table does not know that status.
  if (!lenient || (ready !== undefined && (ready.status as number) !== 404)) return false
  return (await client.health().catch(() => undefined))?.status === 200
}

/** What the agent reports of itself and its instances: the public status, and the instances with the
 *  first credential it takes (none taken, or none given: the status alone, as from an enrolled toolbox). */
export async function agentAnswer(url: string, credentials: readonly string[]): Promise<AgentAnswer> {
  const status = await createDtmaClient({ baseUrl: url, timeoutMs: 10_000 }).status()
  if (status.status !== 200) throw new Error(`GET /status answered ${status.status}`)
  const answer = { version: status.body.dtma_version, commit: status.body.commit }
  for (const token of credentials) {
    const tools = await createDtmaClient({ baseUrl: url, timeoutMs: 10_000, token }).listTools()
    if (tools.status === 200) return { ...answer, instances: new Map(tools.body.data.map((tool) => [tool.instance_name_on_toolbox, tool.status])) }
    if (tools.status !== 401 && tools.status !== 403) throw new Error(`GET /tools answered ${tools.status}`)
  }
  return { ...answer, instances: undefined }
}
