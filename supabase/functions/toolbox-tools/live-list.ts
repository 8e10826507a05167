// The toolbox's instances as its agent reports them right now, in the shape
// the earlier function answered and the frontend's health monitor reads:
// { success, tool_instances, dtma_connected, last_checked }. An agent that
// cannot be reached is news, not an error: dtma_connected false with the
// reason. Items keep the earlier ids (the container id), which the
// lifecycle routes accept.
import { statusOnToolbox, type ToolInstance } from '../../../packages/contract/src/index.ts'
import { agentCallError, agentStatus } from '../_shared/agent.ts'
import { HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'

export interface LiveList {
  success: true
  tool_instances: LiveInstance[]
  dtma_connected: boolean
  last_checked: string
  message?: string
  connection_error?: string
}

export interface LiveInstance {
  id: string
  account_tool_instance_id: string | null
  instance_name_on_toolbox: string
  status_on_toolbox: string
  container_id: string
  image: string
  ports: ToolInstance['ports']
  created_at: string
}

export async function liveInstanceList(ctx: ToolboxContext, checkedAt: Date): Promise<LiveList> {
  const last_checked = checkedAt.toISOString()
  if (!ctx.toolbox.public_ip_address) {
    return { success: true, tool_instances: [], dtma_connected: false, message: 'Toolbox not ready - no IP address assigned', last_checked }
  }
  try {
    const reply = await agentStatus(ctx.agent())
    return { success: true, tool_instances: (reply.tool_instances ?? []).map(liveInstance), dtma_connected: true, last_checked }
  } catch (error) {
    const failure = error instanceof HttpError ? error : agentCallError(error)
    return { success: true, tool_instances: [], dtma_connected: false, connection_error: failure.message, last_checked }
  }
}

function liveInstance(instance: ToolInstance): LiveInstance {
  return {
    id: instance.container_id,
    account_tool_instance_id: instance.account_tool_instance_id === '' ? null : instance.account_tool_instance_id,
    instance_name_on_toolbox: instance.instance_name_on_toolbox,
    status_on_toolbox: statusOnToolbox(instance.status),
    container_id: instance.container_id,
    image: instance.image,
    ports: instance.ports,
    created_at: new Date(instance.created * 1000).toISOString()
  }
}
