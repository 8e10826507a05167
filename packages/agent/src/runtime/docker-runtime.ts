// The Docker adapter: the only module that talks to the Docker engine.
// It speaks in domain terms (create a spec, start, inspect, list the managed
// containers) and translates Docker's errors into DtmaError kinds. Every tool
// container it creates is sandboxed the same way (see create); nothing in a
// request can change that.
import { pipeline } from 'node:stream'
import { Readable } from 'node:stream'
import Docker from 'dockerode'
import { ImageReference } from '@dtma/contract'
import { Value } from 'typebox/value'
import { DtmaError } from '../errors.ts'
import { InstanceLabel, MANAGED_LABEL, managedFilters, SCOPE_LABEL } from './labels.ts'
import { LogDemuxer } from './log-demux.ts'

/** A container port published on a host port (stored as written here). */
export interface PortBinding {
  container_port: number
  protocol: string
  host_ip: string
  host_port: number
}

/** Memory, CPU and process limits of one container. */
export interface ResourceLimits {
  memoryBytes: number
  nanoCpus: number
  pidsLimit: number
}

export interface ContainerSpec {
  containerName: string
  image: string
  env: string[]
  ports: PortBinding[]
  /** Within the sandbox's maxima; absent: the sandbox's own limits. */
  limits?: ResourceLimits
  /** Instance labels; the managed label is always added here. */
  labels: Record<string, string>
}

/** What every tool container gets, whatever the request says; its limits
 *  are the defaults and the most a deploy may ask. */
export interface ToolSandbox extends ResourceLimits {
  /** Capabilities kept after dropping all. */
  capAdd: string[]
  readonlyRootfs: boolean
  /** User-defined bridge the tools join; made (inter-container traffic off) when missing. */
  network: string
}

/** Scratch space of a read-only tool: in memory, nothing executable. */
const READONLY_TMPFS = { '/tmp': 'rw,noexec,nosuid,nodev,size=64m' }
/** A tool that logs without end must not fill the VM's disk. */
const TOOL_LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } }

export interface ContainerInfo {
  /** Carries this agent's managed and scope labels: DTMA may touch it. */
  managed: boolean
  id: string
  name: string
  image: string
  labels: Record<string, string>
  /** Docker's own state word: created, running, restarting, paused, exited, dead, removing */
  dockerState: string
  health: string
  /** unix seconds */
  created: number
  ports: PortBinding[]
  /** Only from inspect: needed to adopt a container the store does not know. */
  env?: string[]
  limits?: ResourceLimits
}

/** A Docker event about a managed container. */
export interface ContainerEvent {
  containerId: string
  /** start, die, stop, kill, oom, destroy, health_status: healthy, ... */
  action: string
  instanceName?: string
}

export interface EventSubscription {
  close(): void
}

export interface PullProgress {
  status: string
  id?: string
  current?: number
  total?: number
}

export interface LogOptions {
  /** last N lines */
  tail: number
  /** unix seconds */
  since?: number
  /** keep streaming until the returned stream is destroyed */
  follow: boolean
  /** the stream ends after this many bytes */
  maxBytes: number
}

/** The engine as GET /system reports it. */
export interface EngineInfo {
  version: string
  apiVersion: string
  containers: { total: number; running: number; paused: number; stopped: number }
  images: number
}

export interface ContainerRuntime {
  ping(): Promise<void>
  engineInfo(): Promise<EngineInfo>
  listManaged(): Promise<ContainerInfo[]>
  /** undefined when no container has that name or id */
  inspect(nameOrId: string): Promise<ContainerInfo | undefined>
  hasImage(image: string): Promise<boolean>
  pullImage(image: string, onProgress: (progress: PullProgress) => void): Promise<void>
  create(spec: ContainerSpec): Promise<string>
  start(id: string): Promise<void>
  stop(id: string, timeoutSeconds: number): Promise<void>
  restart(id: string, timeoutSeconds: number): Promise<void>
  remove(id: string): Promise<void>
  /** stdout and stderr as one text stream; destroying it closes Docker's. */
  logs(id: string, options: LogOptions): Promise<Readable>
  /** Streams events of managed containers until closed; onEnd fires once when
   *  the stream breaks (daemon gone) and not after close(). */
  subscribe(onEvent: (event: ContainerEvent) => void, onEnd: (error: Error) => void): Promise<EventSubscription>
}

export interface DockerRuntimeOptions {
  socketPath: string
  /** Agent scope: only containers labelled with it are listed and watched. */
  scope: string
  sandbox: ToolSandbox
  pullTimeoutMs: number
}

type DockerApiError = Error & { statusCode?: number; code?: string; json?: { message?: string } }

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

/** Docker's message without the HTTP noise dockerode wraps around it. */
function dockerMessage(error: DockerApiError): string {
  return error.json?.message ?? error.message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '')
}

export function translateDockerError(error: unknown, action: string): DtmaError {
  if (error instanceof DtmaError) return error
  const dockerError = error as DockerApiError
  if (dockerError.code !== undefined && UNREACHABLE_CODES.has(dockerError.code)) {
    return new DtmaError('unavailable', `Docker engine unreachable (${dockerError.code}) while trying to ${action}`, { cause: error })
  }
  const message = dockerMessage(dockerError)
  if (/port is already allocated|address already in use/i.test(message)) {
    return new DtmaError('port-conflict', `Host port already in use: ${message}`, { cause: error })
  }
  // Docker refused what it was given (a reference it cannot parse): the caller's input.
  if (dockerError.statusCode === 400) return new DtmaError('invalid', `${action}: ${message}`, { cause: error })
  if (dockerError.statusCode === 404) return new DtmaError('not-found', `${action}: ${message}`, { cause: error })
  if (dockerError.statusCode === 409) return new DtmaError('conflict', `${action}: ${message}`, { cause: error })
  return new DtmaError('docker-failed', `Docker failed to ${action}: ${message}`, { cause: error })
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
      ports.push({
        container_port: Number(containerPort),
        protocol,
        host_ip: binding.HostIp || '0.0.0.0',
        host_port: Number(binding.HostPort)
      })
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

/** An image name goes into Docker API paths: `../x` there makes Docker answer
 *  a redirect that docker-modem follows to a host named `x` and fails with an
 *  unhandled error, which crashes the process. Checked here whoever calls. */
function assertImageReference(image: string): void {
  if (!Value.Check(ImageReference, image as unknown)) throw new DtmaError('invalid', `dockerImageUrl: '${image.slice(0, 80)}' is not a valid image reference`)
}

export class DockerRuntime implements ContainerRuntime {
  private readonly docker: Docker
  private readonly sandbox: ToolSandbox
  private readonly pullTimeoutMs: number
  private readonly scope: string

  constructor(options: DockerRuntimeOptions) {
    this.docker = new Docker({ socketPath: options.socketPath })
    this.sandbox = options.sandbox
    this.pullTimeoutMs = options.pullTimeoutMs
    this.scope = options.scope
  }

  private isManaged(labels: Record<string, string>): boolean {
    return labels[MANAGED_LABEL] === 'true' && labels[SCOPE_LABEL] === this.scope
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping()
    } catch (error) {
      throw translateDockerError(error, 'reach the Docker engine')
    }
  }

  async engineInfo(): Promise<EngineInfo> {
    try {
      const [info, version] = await Promise.all([this.docker.info(), this.docker.version()])
      return {
        version: version.Version,
        apiVersion: version.ApiVersion,
        containers: { total: info.Containers, running: info.ContainersRunning, paused: info.ContainersPaused, stopped: info.ContainersStopped },
        images: info.Images
      }
    } catch (error) {
      throw translateDockerError(error, 'read the Docker engine info')
    }
  }

  async listManaged(): Promise<ContainerInfo[]> {
    try {
      const summaries = await this.docker.listContainers({ all: true, filters: { label: managedFilters(this.scope) } })
      return summaries.map((summary) => ({
        managed: true,
        id: summary.Id,
        name: (summary.Names[0] ?? '').replace(/^\//, ''),
        image: summary.Image,
        labels: summary.Labels,
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

  async inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    try {
      const info = await this.docker.getContainer(nameOrId).inspect()
      return {
        managed: this.isManaged(info.Config.Labels ?? {}),
        id: info.Id,
        name: info.Name.replace(/^\//, ''),
        image: info.Config.Image,
        labels: info.Config.Labels ?? {},
        dockerState: info.State.Status,
        health: info.State.Health?.Status ?? 'none',
        created: Math.floor(Date.parse(info.Created) / 1000),
        ports: portsFromBindings(info.HostConfig.PortBindings as Parameters<typeof portsFromBindings>[0]),
        env: info.Config.Env ?? [],
        limits: { memoryBytes: info.HostConfig.Memory ?? 0, nanoCpus: info.HostConfig.NanoCpus ?? 0, pidsLimit: info.HostConfig.PidsLimit ?? 0 }
      }
    } catch (error) {
      if ((error as DockerApiError).statusCode === 404) return undefined
      throw translateDockerError(error, `inspect container ${nameOrId}`)
    }
  }

  async hasImage(image: string): Promise<boolean> {
    assertImageReference(image)
    try {
      await this.docker.getImage(image).inspect()
      return true
    } catch (error) {
      if ((error as DockerApiError).statusCode === 404) return false
      throw translateDockerError(error, `inspect image ${image}`)
    }
  }

  /** Pulls with its own deadline, separate from any request timeout. */
  async pullImage(image: string, onProgress: (progress: PullProgress) => void): Promise<void> {
    assertImageReference(image)
    let stream: NodeJS.ReadableStream | undefined
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new DtmaError('pull-failed', `Pull of image ${image} timed out after ${this.pullTimeoutMs} ms`))
      }, this.pullTimeoutMs)
    })
    const pull = (async () => {
      stream = await this.docker.pull(image)
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream as NodeJS.ReadableStream,
          (error: Error | null) => (error ? reject(error) : resolve()),
          (event: { status?: string; id?: string; progressDetail?: { current?: number; total?: number } }) =>
            onProgress({ status: event.status ?? '', id: event.id, current: event.progressDetail?.current, total: event.progressDetail?.total })
        )
      })
    })()
    try {
      await Promise.race([pull, deadline])
    } catch (error) {
      if (error instanceof DtmaError) throw error
      if (UNREACHABLE_CODES.has((error as DockerApiError).code ?? '')) throw translateDockerError(error, `pull image ${image}`)
      throw new DtmaError('pull-failed', `Pull of image ${image} failed: ${dockerMessage(error as DockerApiError)}`, { cause: error })
    } finally {
      clearTimeout(timer)
      pull.catch(() => undefined)
      ;(stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined)?.destroy?.()
    }
  }

  /** The id of the tools' network, made when missing. Several agents may race
   *  to make it and Docker 20.10 allows duplicate names, so the oldest of that
   *  name wins for everyone. */
  private async toolNetworkId(): Promise<string> {
    const name = this.sandbox.network
    const find = async () =>
      (await this.docker.listNetworks({ filters: { name: [name] } }))
        .filter((network) => network.Name === name)
        .sort((a, b) => a.Created.localeCompare(b.Created) || a.Id.localeCompare(b.Id))[0]?.Id
    const existing = await find()
    if (existing !== undefined) return existing
    try {
      const network = await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: { [MANAGED_LABEL]: 'true' },
        // One user's tool must not reach another's: no traffic between tools.
        Options: { 'com.docker.network.bridge.enable_icc': 'false' }
      })
      return (await find()) ?? network.id
    } catch (error) {
      const raced = (error as DockerApiError).statusCode === 409 ? await find() : undefined
      if (raced !== undefined) return raced
      throw error
    }
  }

  async create(spec: ContainerSpec): Promise<string> {
    const exposedPorts: Record<string, object> = {}
    const portBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {}
    for (const port of spec.ports) {
      const key = `${port.container_port}/${port.protocol}`
      exposedPorts[key] = {}
      ;(portBindings[key] ??= []).push({ HostIp: port.host_ip, HostPort: String(port.host_port) })
    }
    const sandbox = this.sandbox
    // The domain lowers an ask to the maxima already; the sandbox holds them whoever calls.
    const limits = {
      memoryBytes: Math.min(spec.limits?.memoryBytes ?? sandbox.memoryBytes, sandbox.memoryBytes),
      nanoCpus: Math.min(spec.limits?.nanoCpus ?? sandbox.nanoCpus, sandbox.nanoCpus),
      pidsLimit: Math.min(spec.limits?.pidsLimit ?? sandbox.pidsLimit, sandbox.pidsLimit)
    }
    try {
      const container = await this.docker.createContainer({
        name: spec.containerName,
        Image: spec.image,
        Env: spec.env,
        Labels: { ...spec.labels, [MANAGED_LABEL]: 'true', [SCOPE_LABEL]: this.scope },
        ExposedPorts: exposedPorts,
        HostConfig: {
          PortBindings: portBindings,
          RestartPolicy: { Name: 'unless-stopped' },
          NetworkMode: await this.toolNetworkId(),
          Privileged: false,
          SecurityOpt: ['no-new-privileges:true'],
          CapDrop: ['ALL'],
          CapAdd: sandbox.capAdd,
          ReadonlyRootfs: sandbox.readonlyRootfs,
          ...(sandbox.readonlyRootfs && { Tmpfs: READONLY_TMPFS }),
          // No host paths, no devices, no shared IPC: nothing of the VM inside.
          Binds: [],
          Mounts: [],
          Devices: [],
          IpcMode: 'private',
          Memory: limits.memoryBytes,
          // Swap would let a tool use twice its memory limit.
          MemorySwap: limits.memoryBytes,
          PidsLimit: limits.pidsLimit,
          NanoCpus: limits.nanoCpus,
          LogConfig: TOOL_LOG_CONFIG
        }
      })
      return container.id
    } catch (error) {
      throw translateDockerError(error, `create container ${spec.containerName}`)
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start()
    } catch (error) {
      if ((error as DockerApiError).statusCode === 304) return // already running
      throw translateDockerError(error, `start container ${id}`)
    }
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: timeoutSeconds })
    } catch (error) {
      if ((error as DockerApiError).statusCode === 304) return // already stopped
      throw translateDockerError(error, `stop container ${id}`)
    }
  }

  async restart(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).restart({ t: timeoutSeconds })
    } catch (error) {
      throw translateDockerError(error, `restart container ${id}`)
    }
  }

  async subscribe(onEvent: (event: ContainerEvent) => void, onEnd: (error: Error) => void): Promise<EventSubscription> {
    let stream: NodeJS.ReadableStream & { destroy(): void }
    try {
      stream = (await this.docker.getEvents({ filters: { type: ['container'], label: managedFilters(this.scope) } })) as typeof stream
    } catch (error) {
      throw translateDockerError(error, 'subscribe to Docker events')
    }
    let closed = false
    let buffered = ''
    const end = (error: Error) => {
      if (closed) return
      closed = true
      onEnd(error)
    }
    stream.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8')
      let newline: number
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline).trim()
        buffered = buffered.slice(newline + 1)
        if (line === '') continue
        const event = JSON.parse(line) as { id?: string; Action?: string; status?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } }
        onEvent({
          containerId: event.Actor?.ID ?? event.id ?? '',
          action: event.Action ?? event.status ?? '',
          instanceName: event.Actor?.Attributes?.[InstanceLabel.instanceName]
        })
      }
    })
    stream.on('error', (error: Error) => end(translateDockerError(error, 'follow Docker events')))
    stream.on('end', () => end(new DtmaError('unavailable', 'Docker event stream ended')))
    return {
      close() {
        closed = true
        stream.destroy()
      }
    }
  }

  async logs(id: string, options: LogOptions): Promise<Readable> {
    const query = { stdout: true, stderr: true, tail: options.tail, since: options.since ?? 0 }
    let source: Readable
    try {
      // Docker answers a buffer without follow and a live stream with it.
      const container = this.docker.getContainer(id)
      source = options.follow
        ? ((await container.logs({ ...query, follow: true })) as unknown as Readable)
        : Readable.from([await container.logs({ ...query, follow: false })])
    } catch (error) {
      throw translateDockerError(error, `read logs of container ${id}`)
    }
    // DTMA creates containers without a TTY, so Docker always multiplexes.
    const demuxer = new LogDemuxer(options.maxBytes)
    pipeline(source, demuxer, () => undefined)
    return demuxer
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true })
    } catch (error) {
      if ((error as DockerApiError).statusCode === 404) return // already gone
      throw translateDockerError(error, `remove container ${id}`)
    }
  }
}
