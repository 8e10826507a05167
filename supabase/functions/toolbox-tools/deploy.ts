// Deploying a catalog tool on a toolbox: the new account_tool_instances row
// and the agent's deployTool call with the caller's override; also the
// re-deploy of an instance the agent has lost, with its stored override.
// Host ports are the agent's to choose (an asked port that is its own or
// taken is replaced); the ports it bound are stored with the override.
import { ErrorCode, statusOnToolbox, type BaseConfigOverride, type DeployToolData } from '../../../packages/contract/src/index.ts'
import { agentReplyError, callAgent } from '../_shared/agent.ts'
import { isUuid, type InstanceRow, type Json } from '../_shared/database.ts'
import { databaseError, FunctionErrorCode, HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'
import type { DeployRequest } from './deploy-request.ts'
import { findInstanceOfCatalogTool, insertInstance, listInstances, loadInstance, saveOverride } from './instances.ts'
import { storedOverride, withBoundPorts } from './stored-config.ts'
import { settle } from './transition.ts'

/** What the agent said about a deploy. */
export interface AgentDeploy {
  message: string
  data: DeployToolData
  warnings: string[]
}

export async function deployCatalogTool(ctx: ToolboxContext, request: DeployRequest): Promise<{ row: InstanceRow; agent: AgentDeploy }> {
  const catalog = isUuid(request.toolCatalogId) ? await loadCatalogTool(ctx, request.toolCatalogId) : null
  if (!catalog) throw new HttpError(404, FunctionErrorCode.notFound, `Catalog tool '${request.toolCatalogId}' not found`)

  const siblings = await listInstances(ctx.db, ctx.toolbox.id)
  if (siblings.some((row) => row.instance_name_on_toolbox === request.instanceNameOnToolbox)) {
    throw new HttpError(409, ErrorCode.conflict, `Tool instance '${request.instanceNameOnToolbox}' already exists on this toolbox: choose another instanceNameOnToolbox`)
  }
  const override = request.baseConfigOverrideJson ?? null
  const row = await insertInstance(ctx.db, {
    account_tool_environment_id: ctx.toolbox.id,
    tool_catalog_id: catalog.id,
    instance_name_on_toolbox: request.instanceNameOnToolbox,
    status_on_toolbox: 'deploying',
    docker_image_url: override?.dockerImage ?? catalog.docker_image_url,
    base_config_override_json: override as Json
  })
  if (!row) throw await catalogToolTaken(ctx, catalog)
  let agent: AgentDeploy | undefined
  await settle(ctx, row.id, async () => {
    agent = await deployOnAgent(ctx, row, override)
    return statusOnToolbox(agent.data.state)
  })
  // Read back: the status and the stored ports have moved on.
  return { row: await loadInstance(ctx.db, ctx.toolbox.id, row.id), agent: agent as AgentDeploy }
}

/** Deploy an existing row again, with its stored override. */
export async function redeploy(ctx: ToolboxContext, row: InstanceRow): Promise<void> {
  await deployOnAgent(ctx, row, storedOverride(row))
}

async function deployOnAgent(ctx: ToolboxContext, row: InstanceRow, override: BaseConfigOverride | null): Promise<AgentDeploy> {
  const reply = await callAgent(() =>
    ctx.agent(row.id).deployTool({
      body: {
        dockerImageUrl: row.docker_image_url,
        instanceNameOnToolbox: row.instance_name_on_toolbox,
        accountToolInstanceId: row.id,
        baseConfigOverrideJson: override
      },
      timeoutMs: ctx.deployTimeoutMs
    })
  )
  if (reply.status !== 200 && reply.status !== 201) throw agentReplyError(reply.status, reply.body)
  await saveOverride(ctx.db, row.id, withBoundPorts(override, reply.body.data.ports))
  return { message: reply.body.message, data: reply.body.data, warnings: reply.body.warnings ?? [] }
}

async function loadCatalogTool(ctx: ToolboxContext, id: string) {
  const { data, error } = await ctx.db.from('tool_catalog').select('*').eq('id', id).maybeSingle()
  if (error) throw databaseError('load catalog tool', error)
  return data
}

/** uq_account_env_tool: say which instance holds the catalog tool and what to do. */
async function catalogToolTaken(ctx: ToolboxContext, catalog: { id: string; name: string }): Promise<HttpError> {
  const holder = await findInstanceOfCatalogTool(ctx.db, ctx.toolbox.id, catalog.id)
  const toolbox = ctx.toolbox.id
  const which = holder ? `'${holder.instance_name_on_toolbox}' (id ${holder.id}, ${holder.status_on_toolbox})` : 'one'
  const next = holder
    ? `remove it first (DELETE toolbox-tools/${toolbox}/tools/${holder.id}) and deploy again, or start it (POST toolbox-tools/${toolbox}/tools/${holder.id}/start)`
    : 'remove that instance first, then deploy again'
  return new HttpError(409, ErrorCode.conflict, `Toolbox '${toolbox}' already has an instance of catalog tool '${catalog.name}': ${which}. A toolbox holds one instance per catalog tool: ${next}.`)
}
