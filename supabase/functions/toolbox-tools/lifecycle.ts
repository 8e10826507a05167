// Start, stop, restart and remove of one deployed instance through its
// agent, with status_on_toolbox moved around each call. A start that the
// agent answers 404 (it lost the container) re-deploys and starts once.
import { statusOnToolbox, type InstanceStatus } from '../../../packages/contract/src/index.ts'
import { agentReplyError, callAgent } from '../_shared/agent.ts'
import type { InstallationStatus, InstanceRow } from '../_shared/database.ts'
import type { ToolboxContext } from './context.ts'
import { redeploy } from './deploy.ts'
import { deleteInstance, setInstanceStatus } from './instances.ts'
import { settle, transition } from './transition.ts'

export async function startInstance(ctx: ToolboxContext, row: InstanceRow): Promise<InstallationStatus> {
  return await transition(ctx, row.id, 'starting', async () => statusOnToolbox(await startOnAgent(ctx, row)))
}

export async function stopInstance(ctx: ToolboxContext, row: InstanceRow): Promise<InstallationStatus> {
  return await transition(ctx, row.id, 'stopping', async () => statusOnToolbox(await stopOnAgent(ctx, row)))
}

/** The agent's own restart; an instance the agent lost is re-deployed and
 *  started, as a start would. */
export async function restartInstance(ctx: ToolboxContext, row: InstanceRow): Promise<InstallationStatus> {
  return await transition(ctx, row.id, 'starting', async () => statusOnToolbox(await restartOnAgent(ctx, row)))
}

/** pending_delete, then the row goes once the agent has no container left. */
export async function removeInstance(ctx: ToolboxContext, row: InstanceRow): Promise<void> {
  await setInstanceStatus(ctx.db, row.id, 'pending_delete', null)
  await settle(ctx, row.id, async () => {
    const reply = await callAgent(() => ctx.agent.removeTool({ params: { name: row.instance_name_on_toolbox } }))
    // 404: already gone from the toolbox, which is what was asked.
    if (reply.status !== 200 && reply.status !== 404) throw agentReplyError(reply.status, reply.body)
    return 'pending_delete'
  })
  await deleteInstance(ctx.db, row.id)
}

async function startOnAgent(ctx: ToolboxContext, row: InstanceRow): Promise<InstanceStatus> {
  const params = { name: row.instance_name_on_toolbox }
  const first = await callAgent(() => ctx.agent.startTool({ params }))
  if (first.status === 200) return first.body.data.state
  if (first.status !== 404) throw agentReplyError(first.status, first.body)
  await redeploy(ctx, row)
  const second = await callAgent(() => ctx.agent.startTool({ params }))
  if (second.status === 200) return second.body.data.state
  throw agentReplyError(second.status, second.body)
}

async function restartOnAgent(ctx: ToolboxContext, row: InstanceRow): Promise<InstanceStatus> {
  const reply = await callAgent(() => ctx.agent.restartTool({ params: { name: row.instance_name_on_toolbox } }))
  if (reply.status === 200) return reply.body.data.state
  if (reply.status !== 404) throw agentReplyError(reply.status, reply.body)
  return await startOnAgent(ctx, row)
}

async function stopOnAgent(ctx: ToolboxContext, row: InstanceRow): Promise<InstanceStatus> {
  const reply = await callAgent(() => ctx.agent.stopTool({ params: { name: row.instance_name_on_toolbox } }))
  if (reply.status === 200) return reply.body.data.state
  throw agentReplyError(reply.status, reply.body)
}
