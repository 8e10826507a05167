// Handlers of the fleet routes: the earlier agent's containers (list, adopt)
// and the agent's upgrade of itself (POST /redeploy, the DTMA console's
// button): thin translations between HTTP and the fleet service.
import { portMapping, type LegacyCandidate } from '@dtma/contract'
import type { FleetApi, LegacyView } from '../fleet/fleet-api.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { Handlers } from './register.ts'
import { toolInstance } from './wire.ts'

function legacyCandidate(view: LegacyView): LegacyCandidate {
  return {
    container_name: view.containerName,
    container_id: view.containerId,
    instance_name: view.instanceName,
    account_tool_instance_id: view.accountToolInstanceId ?? null,
    image: view.image,
    ports: view.ports.map(portMapping),
    created: view.created,
    docker_status: view.dockerState,
    reasons: view.reasons,
    eligible: view.whyNot === undefined,
    why_not: view.whyNot ?? null
  }
}

export function fleetHandlers(fleet: FleetApi, instances: InstanceApi): Pick<Handlers, 'listLegacy' | 'adoptLegacy' | 'redeployAgent'> {
  return {
    listLegacy: async () => ({ status: 200, body: { success: true, data: (await fleet.legacyCandidates()).map(legacyCandidate) } }),

    adoptLegacy: async (request) => {
      const { instanceName, warnings } = await fleet.adopt(request.params.name, request.body)
      const message = `The earlier agent's container '${request.params.name}' is tool instance '${instanceName}' now, managed by DTMA.`
      return { status: 200, body: { success: true, message, data: toolInstance(instances.get(instanceName)), ...(warnings.length > 0 && { warnings }) } }
    },

    redeployAgent: async (request, reply) => {
      const { operationId, message } = await fleet.redeploy(request.body)
      reply.log.info({ operationId }, 'redeploy requested: an upgrade helper runs; tool containers keep running')
      return { status: 202, body: { success: true, message, operation_id: operationId } }
    }
  }
}
