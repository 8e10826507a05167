// The recent log lines of one instance, through the agent's
// GET /tools/{name}/logs (stdout and stderr as text), as the list of lines
// the earlier function answered for its 'logs' action.
import { agentReplyError, callAgent } from '../_shared/agent.ts'
import { FunctionErrorCode, HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'
import type { Target } from './resolve.ts'

/** Lines when the caller names no number (the earlier function showed 50). */
const DEFAULT_LOG_LINES = 100

export async function instanceLogs(ctx: ToolboxContext, target: Target, tail = DEFAULT_LOG_LINES): Promise<string[]> {
  const reply = await callAgent(() => ctx.agent(target.row?.id).toolLogs({ params: { name: target.name }, query: { tail } }))
  if (reply.status !== 200) throw agentReplyError(reply.status, reply.body)
  let text: string
  try {
    text = await reply.response.text()
  } catch (error) {
    throw new HttpError(502, FunctionErrorCode.agentBadResponse, `DTMA broke off the logs of '${target.name}': ${(error as Error).message}`)
  }
  return text.split('\n').filter((line) => line.trim() !== '')
}
