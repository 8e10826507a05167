// What an instance is right now, as the domain tells it to everyone who
// reports it (the routes, the event stream, the registry, the heartbeat,
// metrics): its intent from the store beside its container as Docker has
// it. Each reader projects it to its own wire shape.
import type { DesiredState, InstanceStatus, McpSettings } from '@dtma/contract'
import type { Egress } from '../model/egress.ts'
import type { McpHealth } from '../model/mcp-health.ts'
import type { ContainerInfo, PortBinding, ResourceLimits } from '../runtime/types.ts'
import type { InstanceRecord } from '../store/instance-store.ts'
import { containerNameFor } from './container-name.ts'
import { mcpFromLabels } from './mcp-labels.ts'
import { envKeys } from './spec.ts'
import { instanceStatus } from './status.ts'
import { InstanceLabel } from '../runtime/labels.ts'

export interface InstanceView {
  instanceName: string
  /** '' when unknown (a container adopted without the label). */
  accountToolInstanceId: string
  /** '' while the instance has no container. */
  containerId: string
  containerName: string
  image: string
  ports: PortBinding[]
  /** unix seconds: the container's creation, or the record's last change without one. */
  created: number
  /** When its container last started (ISO 8601, Docker's word); null: not known yet, or no container.
   *  A restart (by DTMA, by self-heal or by `docker restart` behind DTMA) changes it, so the view is published. */
  startedAt: string | null
  status: InstanceStatus
  desiredState: DesiredState
  /** Docker's own state word, `missing` without a container. */
  dockerState: string
  health: string
  /** How its MCP server is reached and what the agent last saw of it; null: not an MCP server. */
  /** prefix: what its tools, resources and prompts are named with on the aggregated /mcp (kept in the store). */
  mcp: (McpSettings & { health: McpHealth; prefix: string }) | null
  limits: ResourceLimits
  /** Environment keys, never values; null when unknown. */
  envKeys: string[] | null
  /** What its container may reach, as its deploy asked (`internet` when it did not say, or the store does not know it). */
  egress: Egress
}

/** docker_status of an instance whose container is gone. */
const MISSING = 'missing'

/** No record (or one being removed) and no container: the instance does not exist. */
export function isGone(record: InstanceRecord | undefined, container: ContainerInfo | undefined): boolean {
  return (record === undefined || record.pendingOperation === 'remove') && container === undefined
}

/** A deploy in flight (a take-over not yet at its create) is pending; otherwise a missing container that should run is an error. */
function statusWithoutContainer(record: InstanceRecord | undefined, desiredState: DesiredState): InstanceStatus {
  if (record?.pendingOperation === 'deploy') return 'pending'
  return desiredState === 'running' ? 'error' : 'stopped'
}

/** An MCP server the monitor has not reported on yet. */
function unseenHealth(dockerState: string): McpHealth {
  const status = dockerState === 'running' ? 'starting' : 'stopped'
  return { status, protocolVersion: null, serverInfo: null, serverCapabilities: null, lastPingMs: null, toolsCount: null, toolsFingerprint: null, checkedAt: null, lastError: null, tools: null, withheld: [], drift: null }
}

/** The view of an instance that exists (see isGone). defaultLimits: what a
 *  container gets when its deploy asked for none; health: what the MCP
 *  monitor last saw of its server. */
export function instanceView(
  instanceName: string,
  record: InstanceRecord | undefined,
  container: ContainerInfo | undefined,
  defaultLimits: ResourceLimits,
  health?: McpHealth,
  prefixOf: (instanceName: string) => string = () => ''
): InstanceView {
  // Without a stored intent, what Docker runs is taken as what is wanted.
  const desiredState = record?.desiredState ?? (container?.dockerState === 'running' ? 'running' : 'stopped')
  const dockerState = container?.dockerState ?? MISSING
  return {
    instanceName,
    accountToolInstanceId: record?.spec.accountToolInstanceId ?? container?.labels[InstanceLabel.accountToolInstanceId] ?? '',
    containerId: container?.id ?? '',
    containerName: container?.name ?? containerNameFor(instanceName),
    image: container?.image ?? record?.spec.image ?? '',
    // A stopped container has no published ports in Docker's listing: report the ones it holds.
    ports: container !== undefined && container.ports.length > 0 ? container.ports : (record?.spec.ports ?? []),
    created: container?.created ?? Math.floor((record?.updatedAt ?? 0) / 1000),
    startedAt: container?.startedAt ?? null,
    status: container === undefined ? statusWithoutContainer(record, desiredState) : instanceStatus(dockerState, desiredState),
    desiredState,
    dockerState,
    health: container?.health ?? 'none',
    mcp: mcpOf(record, container, health ?? unseenHealth(dockerState), () => prefixOf(instanceName)),
    limits: record?.spec.limits ?? defaultLimits,
    envKeys: record === undefined ? null : envKeys(record.spec.env),
    egress: record?.spec.egress ?? 'internet'
  }
}

function mcpOf(record: InstanceRecord | undefined, container: ContainerInfo | undefined, health: McpHealth, prefix: () => string): InstanceView['mcp'] {
  // The store says what the agent deployed; the labels only when it has no record (a lost store).
  const settings = record !== undefined ? record.spec.mcp : container === undefined ? undefined : mcpFromLabels(container.labels)
  return settings === undefined ? null : { ...settings, health, prefix: prefix() }
}
