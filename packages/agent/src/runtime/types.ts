// The container runtime as the rest of DTMA sees it: the interface the
// domain calls and the types it speaks in. A leaf: it imports nothing of
// DTMA's, so the store and the domain can share its types without an arrow
// pointing back up. The Docker adapter (runtime/docker/) implements it.
import type { Readable, Writable } from 'node:stream'

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

/** What every tool container gets, whatever the request says; its limits
 *  are the defaults and the most a deploy may ask. */
export interface ToolSandbox extends ResourceLimits {
  /** Capabilities kept after dropping all. */
  capAdd: string[]
  readonlyRootfs: boolean
  /** User-defined bridge the tools join; made (inter-container traffic off) when missing. */
  network: string
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
  /** stdin kept open for an attached client (a stdio MCP server), no TTY. */
  interactive?: boolean
  /** On no network at all (Docker's `none`): a tool that may reach nothing and has nothing to be reached on. */
  networkless?: boolean
  /** Its MAC address on the tools' network, fixed by the agent (the network policy's rules name it: an
   *  address Docker hands out again, after a restart, never carries another tool's rules). */
  macAddress?: string
}

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
  /** Only from inspect: when the container last started (ISO 8601); a new value is a new process. */
  startedAt?: string
  /** Only from inspect: its address on the tools' network (reachable from the host). */
  ipAddress?: string
  /** Only from inspect: what tells an earlier agent's container from anything else. */
  restartPolicy?: string
  mounts?: ContainerMount[]
  /** Only from inspect: how its process runs (its image's unless the container was made with its own). */
  process?: ProcessSettings
  /** Only from inspect: host settings a take-over cannot carry into the sandbox. */
  privileged?: boolean
  networkMode?: string
}

/** Command, entrypoint, user and working directory of a container or an image. */
export interface ProcessSettings {
  cmd: string[]
  entrypoint: string[]
  user: string
  workingDir: string
}

/** A volume or host path mounted into a container. */
export interface ContainerMount {
  type: string
  /** The host path, or the volume's name. */
  source: string
  destination: string
}

export interface ImageDefaults {
  labels: Record<string, string>
  env: string[]
  /** undefined for an image that is gone: nothing to compare a container's process with. */
  process: ProcessSettings | undefined
}

/** A short-lived container that is not a tool: no sandbox, given what its job needs. */
export interface HelperSpec {
  containerName: string
  image: string
  cmd: string[]
  /** `source:destination[:ro]` */
  binds: string[]
  networkMode: string
  labels: Record<string, string>
}

/** A running container's standard streams, for one client (the agent). */
export interface ContainerAttach {
  stdin: Writable
  stdout: Readable
  stderr: Readable
  /** Ends the attach; the container and its open stdin stay as they are. */
  close(): void
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

/** What follows the event stream: its events, its end, and lines that were not events. */
export interface EventHandlers {
  onEvent: (event: ContainerEvent) => void
  onEnd: (error: Error) => void
  /** A line skipped because it could not be read (why, never the line itself). */
  onMalformed?: (reason: string) => void
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

/** The tools' bridge network as the host sees it. */
export interface ToolNetworkInfo {
  id: string
  /** The host's interface of the bridge (com.docker.network.bridge.name, or br- and 12 characters of the id). */
  bridge: string
  /** Its subnets and gateways (IPv4, and IPv6 when enabled). */
  subnets: Array<{ subnet: string; gateway?: string }>
}

/** What the network policy needs of the engine (the Docker adapter implements it beside ContainerRuntime). */
export interface NetworkInspector {
  /** The tools' network, made when missing. */
  toolNetwork(): Promise<ToolNetworkInfo>
}

export interface ContainerRuntime {
  ping(): Promise<void>
  engineInfo(): Promise<EngineInfo>
  listManaged(): Promise<ContainerInfo[]>
  /** Every container on the engine, whoever made it (from the listing: no env);
   *  for finding an earlier agent's containers, which nothing touches unasked. */
  listAll(): Promise<ContainerInfo[]>
  /** undefined when no container has that name or id */
  inspect(nameOrId: string): Promise<ContainerInfo | undefined>
  hasImage(image: string): Promise<boolean>
  /** The labels and env an image sets (its containers inherit them); empty for an image that is gone. */
  imageDefaults(image: string): Promise<ImageDefaults>
  pullImage(image: string, onProgress: (progress: PullProgress) => void): Promise<void>
  create(spec: ContainerSpec): Promise<string>
  start(id: string): Promise<void>
  stop(id: string, timeoutSeconds: number): Promise<void>
  restart(id: string, timeoutSeconds: number): Promise<void>
  remove(id: string): Promise<void>
  /** Creates and starts a helper container (see HelperSpec); answers its id. */
  runHelper(spec: HelperSpec): Promise<string>
  /** stdout and stderr as one text stream; destroying it closes Docker's. */
  logs(id: string, options: LogOptions): Promise<Readable>
  /** Attaches to the standard streams of a running interactive container;
   *  they end when it stops. Its stdin stays open after a close, so the next
   *  attach (after an agent restart) goes on where this one left. */
  attach(id: string): Promise<ContainerAttach>
  /** Streams events of managed containers until closed; onEnd fires once when
   *  the stream breaks (daemon gone) and not after close(). */
  subscribe(handlers: EventHandlers): Promise<EventSubscription>
}
