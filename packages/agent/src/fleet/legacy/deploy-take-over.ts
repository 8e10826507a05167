// A deploy that meets an earlier agent's container: the request names it, so
// it is taken over (same image) with its env and host ports kept, or the
// answer says why not (another image: the normal spec-change rule, a 409).
// A deploy of an instance that a take-over made before any deploy named it
// completes it: the request's id and hash become the instance's, and the
// container keeps running untouched. The caller holds the instance's lock.
import type { Logger } from 'pino'
import { DtmaError } from '../../errors.ts'
import type { DeployOutcome } from '../../instances/deploy.ts'
import type { DeployRequest } from '../../instances/deploy-request.ts'
import type { LegacyDomain } from '../../instances/legacy-port.ts'
import type { ContainerInfo } from '../../runtime/types.ts'
import type { InstanceRecord } from '../../store/instance-store.ts'
import type { LegacyContainer } from './earlier-agent.ts'
import { takeOver } from './take-over.ts'

/** Docker's defaults spelt out: `x` is `docker.io/library/x:latest`. */
export function normalImage(image: string): string {
  let name = image.replace(/^(?:docker\.io|index\.docker\.io)\//, '').replace(/^library\//, '')
  if (!/@sha256:/.test(name) && !/:[^/]+$/.test(name)) name += ':latest'
  return name
}

/** Environment keys whose values differ between the request and what the
 *  container runs (keys only: values are secrets). */
function differingEnvKeys(asked: readonly string[], running: readonly string[]): string[] {
  const runningEnv = new Set(running)
  return asked.filter((entry) => !runningEnv.has(entry)).map((entry) => entry.slice(0, Math.max(0, entry.indexOf('='))))
}

function keptWarnings(request: DeployRequest, env: readonly string[], ports: ContainerInfo['ports']): string[] {
  const warnings: string[] = []
  const keys = differingEnvKeys(request.spec.env, env)
  if (keys.length > 0) warnings.push(`environment ${keys.slice(0, 10).join(', ')} ${keys.length === 1 ? 'differs' : 'differ'} from what the earlier agent's container runs with: its own values are kept (remove the instance and deploy again to change them)`)
  const bound = ports.map((port) => `${port.container_port}/${port.protocol} on ${port.host_port}`).join(', ')
  const asked = request.spec.ports.filter((port) => !ports.some((kept) => kept.container_port === port.container_port && kept.host_port === port.host_port))
  if (asked.length > 0) warnings.push(`host ports of the earlier agent's container are kept: ${bound || 'none'}`)
  return warnings
}

function imageConflict(instanceName: string, running: string, asked: string): DtmaError {
  return new DtmaError(
    'conflict',
    `Tool instance '${instanceName}' is the earlier agent's container, which runs image ${running} while ${asked} was asked: remove it first (DELETE /tools/${instanceName}) to deploy ${asked}, or deploy ${running} to take it over`
  )
}

export async function takeOverOnDeploy(domain: LegacyDomain, request: DeployRequest, legacy: LegacyContainer): Promise<DeployOutcome> {
  const { spec } = request
  const log: Logger = domain.logger.child({ instanceName: spec.instanceName, operation: 'deploy' })
  if (normalImage(legacy.container.image) !== normalImage(spec.image)) throw imageConflict(spec.instanceName, legacy.container.image, spec.image)
  const wish = { instanceName: spec.instanceName, accountToolInstanceId: spec.accountToolInstanceId, desiredState: 'running' as const, requestHash: request.hash, trigger: 'deploy' as const }
  await takeOver(domain, legacy, { ...wish, ...(spec.mcp !== undefined && { mcp: spec.mcp }) }, log)
  const warnings = keptWarnings(request, legacy.env, legacy.container.ports)
  return {
    created: true,
    imageSource: 'local',
    warnings: [...warnings, ...request.warnings],
    reassignedPorts: [],
    takenOver: `The earlier agent's container '${legacy.container.name}' was taken over: made again under DTMA's labels with its image, environment and host ports, instead of a second container.`
  }
}

export async function completeTakeOver(domain: LegacyDomain, request: DeployRequest, record: InstanceRecord, container: ContainerInfo): Promise<DeployOutcome | undefined> {
  const { spec } = request
  if (normalImage(record.spec.image) !== normalImage(spec.image)) throw imageConflict(spec.instanceName, record.spec.image, spec.image)
  // An instance that already has another id is another deploy: the normal rules judge it.
  if (record.spec.accountToolInstanceId !== '' && record.spec.accountToolInstanceId !== spec.accountToolInstanceId) return undefined
  const { takenOverFrom, ...kept } = record.spec
  domain.store.put({
    ...record,
    spec: { ...kept, accountToolInstanceId: spec.accountToolInstanceId, ...(spec.metadata !== undefined && { metadata: spec.metadata }) },
    specHash: request.hash,
    desiredState: 'running'
  })
  if (container.dockerState !== 'running') await domain.runtime.start(container.id)
  await domain.index.refresh(spec.instanceName)
  domain.logger.info({ instanceName: spec.instanceName, operation: 'deploy', containerId: container.id, takenOverFrom }, 'deploy completed a take-over: its id and spec are the instance\'s now')
  return {
    created: false,
    imageSource: 'local',
    warnings: [...keptWarnings(request, record.spec.env, record.spec.ports), ...request.warnings],
    reassignedPorts: [],
    takenOver: `It was taken over from the earlier agent's container '${takenOverFrom}'; this deploy gave it its id.`
  }
}
