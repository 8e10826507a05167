// Handlers of the /tools routes: thin translations between HTTP and the
// instance service. Messages are the sentences Agentopia's backend knows.
import type { ToolInstance } from '@dtma/contract'
import type { FastifyRequest } from 'fastify'
import { DtmaError, isDtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { McpApi } from '../mcp/mcp-api.ts'
import type { NetworkPolicyApi } from '../netpolicy/netpolicy-api.ts'
import type { InstanceView } from '../instances/view.ts'
import { jsonText, type Handlers, type JsonText } from './register.ts'
import { isNarrowed, mayTouch, visibleViews } from './narrow.ts'
import { deployData, toolInstance } from './wire.ts'

type ToolHandlers = Pick<Handlers, 'listToolStatus' | 'listTools' | 'getTool' | 'deployTool' | 'startTool' | 'stopTool' | 'restartTool' | 'removeTool'>

/** waitForMcp: the deploy answers once the instance's MCP server answered initialize and was listed. */
async function untilMcpReady(mcp: McpApi, instanceName: string): Promise<void> {
  try {
    await mcp.whenReady(instanceName, mcp.settings.startTimeoutMs)
  } catch (error) {
    if (!isDtmaError(error, 'mcp-not-ready')) throw error
    throw new DtmaError('mcp-not-ready', `Tool instance '${instanceName}' is deployed, but ${error.message}; it stays deployed (GET /tools/${encodeURIComponent(instanceName)} reports it)`)
  }
}

export function toolHandlers(instances: InstanceApi, mcp: McpApi, policy: NetworkPolicyApi): ToolHandlers {
  // The backend polls the list every few seconds: it is serialized once per
  // change of the instances, not once per request.
  let answered: { list: readonly InstanceView[]; json: JsonText<{ success: true; data: ToolInstance[] }> } | undefined
  const listAll = async (request: Pick<FastifyRequest, 'grant'>) => {
    const list = instances.list()
    // A token narrowed to some instances sees only those: its answer is its own.
    if (isNarrowed(request)) return { status: 200 as const, body: { success: true as const, data: visibleViews(request, list).map(toolInstance) } }
    if (answered?.list !== list) answered = { list, json: jsonText({ success: true as const, data: list.map(toolInstance) }) }
    return { status: 200 as const, json: answered.json }
  }
  return {
    listToolStatus: listAll,
    listTools: listAll,

    getTool: async (request) => ({ status: 200, body: { success: true, data: toolInstance(instances.get(request.params.name)) } }),

    deployTool: async (request) => {
      if (!mayTouch(request, request.body.accountToolInstanceId)) throw new DtmaError('forbidden', 'Forbidden: instance not granted: the token names other instances (instances claim) than this deploy\'s accountToolInstanceId')
      const waitForMcp = request.body.waitForMcp === true || request.query.waitForMcp === true
      if (waitForMcp && (request.body.baseConfigOverrideJson?.mcpTransport ?? null) === null) {
        throw new DtmaError('invalid', 'waitForMcp: baseConfigOverrideJson names no mcpTransport, so the instance is not an MCP server')
      }
      // No tool runs unprotected: a toolbox whose network policy is not in force deploys nothing.
      await policy.assertEnforced()
      const { created, view, imageSource, warnings, reassignedPorts, takenOver } = await instances.deploy(request.body)
      if (waitForMcp) await untilMcpReady(mcp, view.instanceName)
      const data = deployData(waitForMcp ? instances.get(view.instanceName) : view, imageSource)
      const name = data.instance_name_on_toolbox
      const fallback = data.image_source === 'local-after-failed-pull' ? ' (image pull failed; the local copy was deployed)' : ''
      // A reassigned port is news the caller must act on: said in the message, not only in warnings.
      const ports = reassignedPorts.map((sentence) => ` ${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`).join('')
      const note = takenOver === undefined ? '' : ` ${takenOver}`
      const message = created ? `Tool instance '${name}' deployed.${fallback}${ports}${note}` : `Tool instance '${name}' already deployed with this spec.${note}`
      const body = { success: true as const, message, data, ...(warnings.length > 0 && { warnings }) }
      return created ? { status: 201, body } : { status: 200, body }
    },

    startTool: async (request) => {
      const name = request.params.name
      await policy.assertEnforced()
      const { changed, state } = await instances.start(name)
      const message = changed ? `Tool instance '${name}' started.` : `Tool instance '${name}' is already running.`
      return { status: 200, body: { success: true, message, data: { state } } }
    },

    stopTool: async (request) => {
      const name = request.params.name
      const { changed, state } = await instances.stop(name)
      const message = changed ? `Tool instance '${name}' stopped.` : `Tool instance '${name}' is already stopped.`
      return { status: 200, body: { success: true, message, data: { state } } }
    },

    restartTool: async (request) => {
      const name = request.params.name
      await policy.assertEnforced()
      const { state } = await instances.restart(name)
      return { status: 200, body: { success: true, message: `Tool instance '${name}' restarted.`, data: { state } } }
    },

    removeTool: async (request) => {
      const name = request.params.name
      await instances.remove(name)
      return { status: 200, body: { success: true, message: `Tool instance '${name}' removed successfully.` } }
    }
  }
}
