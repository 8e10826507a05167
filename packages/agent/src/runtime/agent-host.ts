// The Docker engine as the upgrader sees it: the agent's own container
// (inspected whole, renamed, stopped, made again with a new image), images,
// volumes, and the archive of a path in a container. A leaf like types.ts:
// the upgrader speaks these types and runtime/docker/agent-host.ts answers.
import type { Readable } from 'node:stream'
import type { ContainerMount } from './types.ts'

export type PortBindingMap = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>

/** An agent container as `docker inspect` tells it, in the fields an upgrade carries over. */
export interface AgentContainer {
  id: string
  name: string
  /** The reference it was made from. */
  image: string
  imageId: string
  state: string
  exitCode: number
  restartCount: number
  env: string[]
  labels: Record<string, string>
  portBindings: PortBindingMap
  /** `-v` lines: `source:destination[:options]` */
  binds: string[]
  mounts: ContainerMount[]
  restartPolicy: { Name: string; MaximumRetryCount?: number }
  networkMode: string
  logConfig?: { Type: string; Config?: Record<string, string> }
  /** The rest of what the operator's `docker run` set, as Docker keeps it. */
  carried: CarriedSettings
  /** The whole inspect document: the backup of an agent without a store. */
  inspect: unknown
}

/** Settings an upgrade copies as they are: the HostConfig keys of CARRIED_HOST_KEYS, the user and the host name. */
export interface CarriedSettings {
  host: Record<string, unknown>
  user: string
  hostname: string
}

/** HostConfig keys that `docker run` flags set (--mount, --cap-add, --memory,
 *  --add-host, --ulimit, ...) and that an upgrade keeps. */
export const CARRIED_HOST_KEYS = [
  'Mounts', 'CapAdd', 'CapDrop', 'Privileged', 'SecurityOpt', 'ReadonlyRootfs', 'Init', 'GroupAdd', 'UsernsMode', 'CgroupParent',
  'Memory', 'MemorySwap', 'MemoryReservation', 'OomScoreAdj', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'CpusetCpus', 'PidsLimit', 'Ulimits', 'ShmSize', 'Tmpfs', 'Sysctls', 'Devices',
  'ExtraHosts', 'Dns', 'DnsSearch', 'DnsOptions'
] as const

export interface AgentImage {
  id: string
  /** The image's USER ('' for root). */
  user: string
  env: string[]
  labels: Record<string, string>
  exposedPorts: string[]
}

/** How the new agent container is made. */
export interface AgentContainerSpec {
  name: string
  image: string
  env: string[]
  labels: Record<string, string>
  exposedPorts: string[]
  portBindings: PortBindingMap
  binds: string[]
  restartPolicy: { Name: string; MaximumRetryCount?: number }
  networkMode: string
  logConfig?: { Type: string; Config?: Record<string, string> }
  /** HostConfig keys copied from the old container. */
  host: Record<string, unknown>
  user?: string
  hostname?: string
}

/** A running container, as a smoke test compares them. */
export interface RunningContainer {
  id: string
  name: string
  labels: Record<string, string>
  mounts: ContainerMount[]
}

export interface AgentHost {
  inspect(nameOrId: string): Promise<AgentContainer | undefined>
  image(reference: string): Promise<AgentImage | undefined>
  pull(reference: string): Promise<void>
  create(spec: AgentContainerSpec): Promise<string>
  start(id: string): Promise<void>
  stop(id: string, timeoutSeconds: number): Promise<void>
  remove(id: string): Promise<void>
  rename(id: string, name: string): Promise<void>
  volumeExists(name: string): Promise<boolean>
  createVolume(name: string, labels: Record<string, string>): Promise<void>
  removeVolume(name: string): Promise<void>
  /** A tar of a path in a (stopped) container, volumes included; undefined when the path is not there. */
  archive(id: string, path: string): Promise<Readable | undefined>
  /** Unpacks a tar into a directory of a created container (its volumes included). */
  putArchive(id: string, directory: string, tar: Readable): Promise<void>
  running(): Promise<RunningContainer[]>
}
