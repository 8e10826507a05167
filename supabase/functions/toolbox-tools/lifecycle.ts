// Start, stop, restart and remove of one instance through its agent, with
// status_on_toolbox moved around each call when the instance has a row. A
// start that the agent answers 404 (it lost the container) re-deploys the
// row's stored override and starts once.
import { statusOnToolbox, type InstanceStatus } from '../../../packages/contract/src/index.ts'
import { agentReplyError, callAgent } from '../_shared/agent.ts'
import type { InstallationStatus } from '../_shared/database.ts'
import type { ToolboxContext } from './context.ts'
import { redeploy } from './deploy.ts'
import { deleteInstance, setInstanceStatus } from './instances.ts'
import type { Target } from './resolve.ts'
import { settle, transition } from './transition.ts'

export async function startInstance(ctx: ToolboxContext, target: Target): Promise<InstallationStatus> {
  return await around(ctx, target, 'starting', () => startOnAgent(ctx, target))
}

export async function stopInstance(ctx: ToolboxContext, target: Target): Promise<InstallationStatus> {
  return await around(ctx, target, 'stopping', async () => {
    const reply = await callAgent(() => ctx.agent(target.row?.id).stopTool({ params: { name: target.name } }))
    if (reply.status === 200) return reply.body.data.state
    throw agentReplyError(reply.status, reply.body)
  })
}

/** The agent's own restart; an instance the agent lost is re-deployed and
 *  started, as a start would. */
export async function restartInstance(ctx: ToolboxContext, target: Target): Promise<InstallationStatus> {
  return await around(ctx, target, 'starting', async () => {
    const reply = await callAgent(() => ctx.agent(target.row?.id).restartTool({ params: { name: target.name } }))
    if (reply.status === 200) return reply.body.data.state
    if (!missingOnAgent(ctx, reply.status)) throw agentReplyError(reply.status, reply.body)
    return await startOnAgent(ctx, target)
  })
}

/** pending_delete, then the row goes once the agent has no container left. */
export async function removeInstance(ctx: ToolboxContext, target: Target): Promise<void> {
  const removeOnAgent = async (): Promise<InstallationStatus> => {
    const reply = await callAgent(() => ctx.agent(target.row?.id).removeTool({ params: { name: target.name } }))
    // Already gone from the toolbox, which is what was asked.
    if (reply.status !== 200 && !missingOnAgent(ctx, reply.status)) throw agentReplyError(reply.status, reply.body)
    return 'pending_delete'
  }
  if (!target.row) {
    await removeOnAgent()
    return
  }
  await setInstanceStatus(ctx.db, target.row.id, 'pending_delete', null)
  await settle(ctx, target.row.id, removeOnAgent)
  await deleteInstance(ctx.db, target.row.id)
}

/** The agent's call with the row's status moved around it; an instance without a row has no status to move. */
async function around(ctx: ToolboxContext, target: Target, during: InstallationStatus, call: () => Promise<InstanceStatus>): Promise<InstallationStatus> {
  const operation = async () => statusOnToolbox(await call())
  return target.row ? await transition(ctx, target.row.id, during, operation) : await operation()
}

async function startOnAgent(ctx: ToolboxContext, target: Target): Promise<InstanceStatus> {
  const params = { name: target.name }
  const first = await callAgent(() => ctx.agent(target.row?.id).startTool({ params }))
  if (first.status === 200) return first.body.data.state
  if (!missingOnAgent(ctx, first.status) || !target.row) throw agentReplyError(first.status, first.body)
  await redeploy(ctx, target.row)
  const second = await callAgent(() => ctx.agent(target.row?.id).startTool({ params }))
  if (second.status === 200) return second.body.data.state
  throw agentReplyError(second.status, second.body)
}

/** The agent has no such instance: a 404, or a 403 to our own tools:write token narrowed to the row (an agent
 *  that checks tokens cannot tell an unknown name's row, and refuses it rather than say it is unknown). */
function missingOnAgent(ctx: ToolboxContext, status: number): boolean {
  return status === 404 || (status === 403 && ctx.signsTokens())
}
