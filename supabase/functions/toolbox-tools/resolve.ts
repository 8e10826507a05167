// Which instance a lifecycle request means. Callers name it by its
// account_tool_instances id (adminMCPService), and the earlier function's
// list gave container ids as ids, so a container id (full or its 12-character
// short form) or an instance name the toolbox's agent reports is accepted
// too. An instance the agent runs without a row of this toolbox (a container
// it adopted) is acted on at the agent only.
import type { ToolInstance } from '../../../packages/contract/src/index.ts'
import { agentReplyError, callAgent } from '../_shared/agent.ts'
import { isUuid, type InstanceRow } from '../_shared/database.ts'
import { FunctionErrorCode, HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'
import { findInstance } from './instances.ts'

export interface Target {
  /** The agent's name of the instance. */
  name: string
  row: InstanceRow | null
}

const SHORT_CONTAINER_ID = 12

export async function resolveInstance(ctx: ToolboxContext, instanceId: string): Promise<Target> {
  const row = await findInstance(ctx.db, ctx.toolbox.id, instanceId)
  if (row) return { name: row.instance_name_on_toolbox, row }
  const reported = (await reportedInstances(ctx)).find(
    (instance) =>
      instance.instance_name_on_toolbox === instanceId ||
      instance.container_id === instanceId ||
      (instanceId.length >= SHORT_CONTAINER_ID && /^[0-9a-f]+$/.test(instanceId) && instance.container_id.startsWith(instanceId))
  )
  if (!reported) {
    throw new HttpError(
      404,
      FunctionErrorCode.notFound,
      `Tool instance '${instanceId}' not found on toolbox '${ctx.toolbox.id}': give its account_tool_instances id, or a container id or instance name that DTMA reports for this toolbox`
    )
  }
  const owned = isUuid(reported.account_tool_instance_id) ? await findInstance(ctx.db, ctx.toolbox.id, reported.account_tool_instance_id) : null
  return { name: reported.instance_name_on_toolbox, row: owned }
}

async function reportedInstances(ctx: ToolboxContext): Promise<ToolInstance[]> {
  const reply = await callAgent(() => ctx.agent().listTools())
  if (reply.status !== 200) throw agentReplyError(reply.status, reply.body)
  return reply.body.data
}
