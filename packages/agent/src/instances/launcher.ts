// Creates (and optionally starts) the container of an instance record. A
// create that succeeds followed by a start that fails removes the half-made
// container, so a retry under the same name is not a conflict.
import type { Logger } from 'pino'
import type { ContainerRuntime } from '../runtime/types.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { InstanceRecord } from '../store/instance-store.ts'
import { mcpLabels } from './mcp-labels.ts'

export type LaunchTarget = Pick<InstanceRecord, 'containerName' | 'spec' | 'specHash'>

export async function launchContainer(runtime: ContainerRuntime, target: LaunchTarget, start: boolean, log: Logger): Promise<string> {
  const { spec } = target
  const containerId = await runtime.create({
    containerName: target.containerName,
    image: spec.image,
    env: spec.env,
    ports: spec.ports,
    ...(spec.limits !== undefined && { limits: spec.limits }),
    labels: {
      [InstanceLabel.instanceName]: spec.instanceName,
      [InstanceLabel.accountToolInstanceId]: spec.accountToolInstanceId,
      [InstanceLabel.specHash]: target.specHash,
      ...mcpLabels(spec.mcp)
    }
  })
  if (!start) return containerId
  try {
    await runtime.start(containerId)
  } catch (error) {
    await runtime.remove(containerId).catch((removeError: unknown) => log.warn({ err: removeError, containerId }, 'cleanup of unstarted container failed'))
    throw error
  }
  return containerId
}
