// Creates (and optionally starts) the container of an instance record. A
// create that succeeds followed by a start that fails removes the half-made
// container, so a retry under the same name is not a conflict. A container
// that can no longer start (a stale task left by a Docker engine that died
// while starting it) is made again from the record.
import type { Logger } from 'pino'
import { isDtmaError } from '../errors.ts'
import type { ContainerRuntime } from '../runtime/types.ts'
import { toolMacAddress } from '../model/egress.ts'
import { InstanceLabel } from '../runtime/labels.ts'
import type { InstanceRecord } from '../store/instance-store.ts'
import { mcpLabels } from './mcp-labels.ts'
import { networkless } from './spec.ts'

export type LaunchTarget = Pick<InstanceRecord, 'containerName' | 'spec' | 'specHash'>

export async function launchContainer(runtime: ContainerRuntime, target: LaunchTarget, start: boolean, log: Logger): Promise<string> {
  const { spec } = target
  const containerId = await runtime.create({
    containerName: target.containerName,
    image: spec.image,
    env: spec.env,
    ports: spec.ports,
    ...(spec.limits !== undefined && { limits: spec.limits }),
    // A stdio MCP server is reached on its stdin and stdout (the agent attaches).
    ...(spec.mcp?.transport === 'stdio' && { interactive: true }),
    ...(networkless(spec) && { networkless: true }),
    // The network policy names a narrowed tool by this address (never by its IP address, which Docker reuses).
    ...(spec.egress !== undefined && spec.egress !== 'internet' && !networkless(spec) && { macAddress: toolMacAddress(target.containerName) }),
    labels: {
      [InstanceLabel.instanceName]: spec.instanceName,
      [InstanceLabel.accountToolInstanceId]: spec.accountToolInstanceId,
      [InstanceLabel.specHash]: target.specHash,
      ...(spec.takenOverFrom !== undefined && { [InstanceLabel.takenOverFrom]: spec.takenOverFrom }),
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

/** Docker's answer for a container whose containerd task outlived a dying
 *  engine: "... task <id>: already exists". Every later start fails alike. */
const STALE_TASK = /\btask\b.*\balready exists\b/i

/** Starts an existing container; one wedged by a stale task is removed and
 *  made again from its record. Answers the id of the container that runs. */
export async function startContainer(runtime: ContainerRuntime, target: LaunchTarget, containerId: string, log: Logger): Promise<string> {
  try {
    await runtime.start(containerId)
    return containerId
  } catch (error) {
    if (!STALE_TASK.test((error as Error).message)) throw error
    log.warn({ containerId, err: error }, 'container cannot start (a stale task of a dead engine): making it again from the store')
    await runtime.remove(containerId)
    return launchContainer(runtime, target, true, log)
  }
}

/** Tries of a start that meets the host ports of a container just stopped. */
const FREED_PORT_TRIES = 5

/** Starts a container that takes over the host ports of one that was just
 *  stopped: a loaded engine may release them a moment after the stop
 *  returns, so a port conflict is tried again, a few times, with backoff. */
export async function startOnFreedPorts(runtime: ContainerRuntime, containerId: string, log: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runtime.start(containerId)
    } catch (error) {
      if (!isDtmaError(error, 'port-conflict') || attempt === FREED_PORT_TRIES) throw error
      const delayMs = 250 * 2 ** (attempt - 1)
      log.info({ containerId, attempt, delayMs }, 'the host ports of the stopped container are not free yet; starting again soon')
      await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
  }
}

/** Stops the container a replacement replaces. One already gone (removed
 *  between a look at it and this stop, say by the last call of an agent that
 *  died mid-take-over) is as stopped as it can be: its host ports are free. */
export async function stopReplaced(runtime: ContainerRuntime, containerId: string, timeoutSeconds: number): Promise<void> {
  try {
    await runtime.stop(containerId, timeoutSeconds)
  } catch (error) {
    if (!isDtmaError(error, 'not-found')) throw error
  }
}

/** Whether the container a replacement replaces is still there to run again
 *  (neither gone nor on its way out). When it is not, the new container is
 *  the only one left: a rollback must not remove it (never none). */
export async function replacedIsThere(runtime: ContainerRuntime, containerId: string): Promise<boolean> {
  const old = await runtime.inspect(containerId)
  return old !== undefined && old.dockerState !== 'removing' && old.dockerState !== 'dead'
}
