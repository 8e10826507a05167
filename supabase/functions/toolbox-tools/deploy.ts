// Deploying a catalog tool on a toolbox: the new account_tool_instances row,
// its host port, and the agent's deployTool call (also used to re-deploy an
// instance the agent has lost).
import { ErrorCode, statusOnToolbox, type DeployToolBody, type InstanceStatus } from '../../../packages/contract/src/index.ts'
import { agentReplyError, callAgent } from '../_shared/agent.ts'
import type { InstanceRow, Json, StoredToolConfig } from '../_shared/database.ts'
import { databaseError, FunctionErrorCode, HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'
import type { DeployRequest } from './deploy-request.ts'
import { insertInstance, listInstances, loadInstance, saveToolConfig, storedToolConfig } from './instances.ts'
import { pickHostPort } from './ports.ts'
import { settle } from './transition.ts'

/** MCP servers in the catalog listen on 8080 unless the request says otherwise. */
export const DEFAULT_CONTAINER_PORT = 8080
/** A host port can be taken by something outside DTMA's view; try a few. */
const MAX_PORT_ATTEMPTS = 5

export async function deployCatalogTool(ctx: ToolboxContext, request: DeployRequest): Promise<InstanceRow> {
  const { data: catalog, error } = await ctx.db.from('tool_catalog').select('*').eq('id', request.toolCatalogId).maybeSingle()
  if (error) throw databaseError('load catalog tool', error)
  if (!catalog) throw new HttpError(404, FunctionErrorCode.notFound, `Catalog tool '${request.toolCatalogId}' not found`)

  const siblings = await listInstances(ctx.db, ctx.toolbox.id)
  if (siblings.some((row) => row.instance_name_on_toolbox === request.instanceNameOnToolbox)) {
    throw new HttpError(409, ErrorCode.conflict, `Tool instance '${request.instanceNameOnToolbox}' already exists on this toolbox`)
  }
  const taken = takenHostPorts(siblings)
  const override = request.baseConfigOverrideJson
  const config: StoredToolConfig = {
    dockerImage: override?.dockerImage ?? catalog.docker_image_url,
    containerPort: override?.containerPort ?? DEFAULT_CONTAINER_PORT,
    hostPort: pickHostPort(taken, ctx.agentPort),
    environmentVariables: override?.environmentVariables ?? {}
  }
  const row = await insertInstance(ctx.db, {
    account_tool_environment_id: ctx.toolbox.id,
    tool_catalog_id: catalog.id,
    instance_name_on_toolbox: request.instanceNameOnToolbox,
    status_on_toolbox: 'deploying',
    docker_image_url: config.dockerImage,
    base_config_override_json: config as unknown as Json
  })
  await settle(ctx, row.id, async () => statusOnToolbox(await deployOnAgent(ctx, row, config, taken)))
  // Read back: the status and, after a port conflict, the port have moved on.
  return await loadInstance(ctx.db, ctx.toolbox.id, row.id)
}

/** Deploy an existing row again with its stored config (a fresh port if it has none). */
export async function redeploy(ctx: ToolboxContext, row: InstanceRow): Promise<InstanceStatus> {
  const stored = storedToolConfig(row)
  const taken = takenHostPorts((await listInstances(ctx.db, ctx.toolbox.id)).filter((other) => other.id !== row.id))
  const config: StoredToolConfig = stored ?? {
    dockerImage: row.docker_image_url,
    containerPort: DEFAULT_CONTAINER_PORT,
    hostPort: pickHostPort(taken, ctx.agentPort),
    environmentVariables: {}
  }
  if (!stored) await saveToolConfig(ctx.db, row.id, config)
  return await deployOnAgent(ctx, row, config, taken)
}

/** The agent's deployTool; a host-port conflict moves the instance to the next free port. */
async function deployOnAgent(ctx: ToolboxContext, row: InstanceRow, config: StoredToolConfig, taken: Set<number>): Promise<InstanceStatus> {
  let current = config
  for (let attempt = 1; ; attempt++) {
    const reply = await callAgent(() => ctx.agent.deployTool({ body: deployBody(row, current), timeoutMs: ctx.deployTimeoutMs }))
    if (reply.status === 200 || reply.status === 201) return reply.body.data.state
    if (reply.status === 409 && reply.body.code === ErrorCode.portConflict && attempt < MAX_PORT_ATTEMPTS) {
      taken.add(current.hostPort)
      current = { ...current, hostPort: pickHostPort(taken, ctx.agentPort) }
      await saveToolConfig(ctx.db, row.id, current)
      continue
    }
    throw agentReplyError(reply.status, reply.body)
  }
}

function deployBody(row: InstanceRow, config: StoredToolConfig): DeployToolBody {
  return {
    dockerImageUrl: config.dockerImage,
    instanceNameOnToolbox: row.instance_name_on_toolbox,
    accountToolInstanceId: row.id,
    baseConfigOverrideJson: {
      Env: Object.entries(config.environmentVariables).map(([key, value]) => `${key}=${value}`),
      HostConfig: { PortBindings: { [`${config.containerPort}/tcp`]: [{ HostPort: String(config.hostPort) }] } }
    }
  }
}

function takenHostPorts(rows: InstanceRow[]): Set<number> {
  return new Set(rows.flatMap((row) => storedToolConfig(row)?.hostPort ?? []))
}
