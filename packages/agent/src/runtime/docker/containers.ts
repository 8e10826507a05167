// Tool containers on the Docker engine: listing and inspecting this agent's
// containers (as ContainerInfo), creating them inside the sandbox on the
// tools' network, and starting, stopping, restarting and removing them.
import type Docker from 'dockerode'
import { MANAGED_LABEL, managedFilters, SCOPE_LABEL } from '../labels.ts'
import { sandboxedContainer, toolNetworkOptions } from '../sandbox.ts'
import type { ContainerInfo, ContainerSpec, HelperSpec, PortBinding, ProcessSettings, ToolSandbox } from '../types.ts'
import { statusOf, translateDockerError } from './errors.ts'
import { DtmaError } from '../../errors.ts'
import { refusal, type ImageLabels } from './image-labels.ts'

export interface ContainerScope {
  docker: Docker
  /** Agent scope: only containers labelled with it are this agent's. */
  scope: string
  sandbox: ToolSandbox
  /** Which images carry labels under dtma.* (their containers' are not believed). */
  imageLabels: ImageLabels
}

/** "Up 3 minutes (healthy)" -> healthy; no health check -> none. */
function healthFromStatusText(statusText: string): string {
  const match = /\((healthy|unhealthy|health: starting)\)/.exec(statusText)
  if (!match) return 'none'
  return match[1] === 'health: starting' ? 'starting' : (match[1] as string)
}

function portsFromBindings(bindings: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | undefined): PortBinding[] {
  const ports: PortBinding[] = []
  for (const [key, hostBindings] of Object.entries(bindings ?? {})) {
    const [containerPort, protocol = 'tcp'] = key.split('/') as [string, string?]
    for (const binding of hostBindings ?? []) {
      ports.push({ container_port: Number(containerPort), protocol, host_ip: binding.HostIp || '0.0.0.0', host_port: Number(binding.HostPort) })
    }
  }
  return ports
}

function portsFromSummary(summaryPorts: Docker.Port[]): PortBinding[] {
  const seen = new Set<string>()
  const ports: PortBinding[] = []
  for (const port of summaryPorts) {
    if (port.PublicPort === undefined) continue
    const mapping = { container_port: port.PrivatePort, protocol: port.Type, host_ip: port.IP ?? '0.0.0.0', host_port: port.PublicPort }
    // Docker lists a binding once per address family; report it once.
    const key = `${mapping.container_port}/${mapping.protocol}:${mapping.host_port}`
    if (seen.has(key)) continue
    seen.add(key)
    ports.push(mapping)
  }
  return ports
}

/** Docker writes an unset command or entrypoint as null, a string or an array. */
function words(value: string | string[] | null | undefined): string[] {
  if (value === null || value === undefined) return []
  return typeof value === 'string' ? [value] : value
}

/** The process part of a container's or an image's Config. */
export function processSettings(config: { Cmd?: string | string[] | null; Entrypoint?: string | string[] | null; User?: string; WorkingDir?: string } | undefined): ProcessSettings {
  return { cmd: words(config?.Cmd), entrypoint: words(config?.Entrypoint), user: config?.User ?? '', workingDir: config?.WorkingDir ?? '' }
}

function ownedByScope(labels: Record<string, string>, scope: string): boolean {
  return labels[MANAGED_LABEL] === 'true' && labels[SCOPE_LABEL] === scope
}

export async function listManaged(containers: ContainerScope): Promise<ContainerInfo[]> {
  // Docker's filter also finds containers whose image carries these labels: not ours.
  return (await listContainers(containers, { label: managedFilters(containers.scope) })).filter((container) => container.managed)
}

/** Every container of the engine; `managed` says which are this agent's. */
export async function listAll(containers: ContainerScope): Promise<ContainerInfo[]> {
  return listContainers(containers, {})
}

async function listContainers({ docker, scope, imageLabels }: ContainerScope, filters: Record<string, string[]>): Promise<ContainerInfo[]> {
  try {
    const summaries = await docker.listContainers({ all: true, filters })
    const labelsOf = await Promise.all(summaries.map((summary) => imageLabels.trusted(summary.ImageID, summary.Labels ?? {})))
    return summaries.map((summary, index) => ({
      managed: ownedByScope(labelsOf[index] ?? {}, scope),
      id: summary.Id,
      name: (summary.Names[0] ?? '').replace(/^\//, ''),
      image: summary.Image,
      labels: labelsOf[index] ?? {},
      dockerState: summary.State,
      health: healthFromStatusText(summary.Status),
      created: summary.Created,
      // A stopped container has no published ports in the summary; the
      // domain falls back to the requested bindings for it.
      ports: portsFromSummary(summary.Ports)
    }))
  } catch (error) {
    throw translateDockerError(error, 'list containers')
  }
}

export async function inspectContainer({ docker, scope, imageLabels }: ContainerScope, nameOrId: string): Promise<ContainerInfo | undefined> {
  try {
    const info = await docker.getContainer(nameOrId).inspect()
    const labels = await imageLabels.trusted(info.Image, info.Config.Labels ?? {})
    return {
      managed: ownedByScope(labels, scope),
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      image: info.Config.Image,
      labels,
      dockerState: info.State.Status,
      health: info.State.Health?.Status ?? 'none',
      created: Math.floor(Date.parse(info.Created) / 1000),
      ports: portsFromBindings(info.HostConfig.PortBindings as Parameters<typeof portsFromBindings>[0]),
      env: info.Config.Env ?? [],
      limits: { memoryBytes: info.HostConfig.Memory ?? 0, nanoCpus: info.HostConfig.NanoCpus ?? 0, pidsLimit: info.HostConfig.PidsLimit ?? 0 },
      startedAt: info.State.StartedAt,
      ipAddress: Object.values(info.NetworkSettings.Networks ?? {}).find((network) => network.IPAddress)?.IPAddress,
      restartPolicy: info.HostConfig.RestartPolicy?.Name || 'no',
      mounts: (info.Mounts ?? []).map((mount) => ({ type: mount.Type, source: mount.Name ?? mount.Source, destination: mount.Destination })),
      process: processSettings(info.Config),
      privileged: info.HostConfig.Privileged === true,
      networkMode: info.HostConfig.NetworkMode || 'default'
    }
  } catch (error) {
    if (statusOf(error) === 404) return undefined
    throw translateDockerError(error, `inspect container ${nameOrId}`)
  }
}

/** The id of the tools' network, made when missing. Several agents may race
 *  to make it and Docker 20.10 allows duplicate names, so the oldest of that
 *  name wins for everyone. */
export async function toolNetworkId(docker: Docker, name: string): Promise<string> {
  const find = async () =>
    (await docker.listNetworks({ filters: { name: [name] } }))
      .filter((network) => network.Name === name)
      .sort((a, b) => a.Created.localeCompare(b.Created) || a.Id.localeCompare(b.Id))[0]?.Id
  const existing = await find()
  if (existing !== undefined) return existing
  try {
    const network = await docker.createNetwork(toolNetworkOptions(name, { [MANAGED_LABEL]: 'true' }))
    return (await find()) ?? network.id
  } catch (error) {
    const raced = statusOf(error) === 409 ? await find() : undefined
    if (raced !== undefined) return raced
    throw error
  }
}

/** A tool container of an image without labels under dtma.* (image-labels.ts):
 *  checked before it is made, and again on the image it was made of, in case
 *  the tag moved in between; one that fails the second check is removed unstarted. */
export async function createContainer({ docker, scope, sandbox, imageLabels }: ContainerScope, spec: ContainerSpec): Promise<string> {
  const checkedId = await imageLabels.assertNoAgentLabels(spec.image)
  let id: string
  try {
    const ownership = { [MANAGED_LABEL]: 'true', [SCOPE_LABEL]: scope }
    const networkId = spec.networkless === true ? 'none' : await toolNetworkId(docker, sandbox.network)
    // Docker 20.10 applies a container's MacAddress only when its network is named, not given by id (two
    // networks of that name make the create fail: never a container without the address its rules name).
    const networkMode = spec.macAddress !== undefined && networkId !== 'none' ? sandbox.network : networkId
    id = (await docker.createContainer(sandboxedContainer(spec, sandbox, networkMode, ownership))).id
  } catch (error) {
    throw translateDockerError(error, `create container ${spec.containerName}`)
  }
  try {
    const madeOf = (await docker.getContainer(id).inspect()).Image
    if (madeOf === checkedId) return id
    const found = await imageLabels.inspect(madeOf)
    if (found === undefined || found.agentLabels.length === 0) return id
    await docker.getContainer(id).remove({ force: true })
    throw refusal(spec.image, found.agentLabels)
  } catch (error) {
    if (error instanceof DtmaError) throw error
    throw translateDockerError(error, `inspect the new container ${spec.containerName}`)
  }
}

/** A helper container (not a tool: no sandbox), created and started; one that cannot start is removed. */
export async function runHelper({ docker }: ContainerScope, spec: HelperSpec): Promise<string> {
  let container: Docker.Container | undefined
  try {
    container = await docker.createContainer({
      name: spec.containerName,
      Image: spec.image,
      Cmd: spec.cmd,
      Labels: spec.labels,
      HostConfig: { Binds: spec.binds, NetworkMode: spec.networkMode, LogConfig: { Type: 'json-file', Config: { 'max-size': '1m' } } }
    })
    await container.start()
    return container.id
  } catch (error) {
    await container?.remove({ force: true }).catch(() => undefined)
    throw translateDockerError(error, `run helper container ${spec.containerName}`)
  }
}

/** Runs one container action; `ignored` statuses are answers that mean "already so". */
export async function containerAction(docker: Docker, id: string, action: string, run: (container: Docker.Container) => Promise<unknown>, ignored: number[] = []): Promise<void> {
  try {
    await run(docker.getContainer(id))
  } catch (error) {
    if (ignored.includes(statusOf(error) ?? 0)) return
    throw translateDockerError(error, `${action} container ${id}`)
  }
}
