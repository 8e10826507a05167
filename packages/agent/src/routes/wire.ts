// The domain's views as the API speaks them (snake_case bodies of the
// contract), at the routes' edge: the domain keeps its own words.
import { portMapping, type DeployToolData, type DockerEngineInfo, type ToolInstance } from '@dtma/contract'
import type { ImageSource } from '../instances/deploy.ts'
import type { EngineState } from '../instances/instance-api.ts'
import { mcpInfo } from '../instances/mcp-info.ts'
import type { InstanceView } from '../instances/view.ts'

function limits(applied: InstanceView['limits']): ToolInstance['limits'] {
  return { memory_bytes: applied.memoryBytes, cpus: applied.nanoCpus / 1e9, pids: applied.pidsLimit }
}

export function toolInstance(view: InstanceView): ToolInstance {
  return {
    account_tool_instance_id: view.accountToolInstanceId,
    instance_name_on_toolbox: view.instanceName,
    container_id: view.containerId,
    container_name: view.containerName,
    image: view.image,
    ports: view.ports.map(portMapping),
    created: view.created,
    status: view.status,
    desired_state: view.desiredState,
    docker_status: view.dockerState,
    health: view.health,
    mcp: mcpInfo(view),
    limits: limits(view.limits),
    egress: view.egress
  }
}

export function deployData(view: InstanceView, imageSource: ImageSource): DeployToolData {
  return {
    container_id: view.containerId,
    instance_name_on_toolbox: view.instanceName,
    account_tool_instance_id: view.accountToolInstanceId,
    image: view.image,
    ports: view.ports.map(portMapping),
    state: view.status,
    image_source: imageSource,
    mcp: mcpInfo(view),
    limits: limits(view.limits),
    egress: view.egress
  }
}

export function dockerEngine(state: EngineState): DockerEngineInfo {
  if (!state.available) return state
  const { engine } = state
  return { available: true, version: engine.version, api_version: engine.apiVersion, containers: engine.containers, images: engine.images, managed_instances: state.managedInstances }
}
