// The Docker adapter: the only code that talks to the Docker engine. It
// speaks in domain terms (ContainerRuntime: create a spec, start, inspect,
// list the managed containers, follow events) and translates Docker's errors
// into DtmaError kinds; each concern lives in a module of its own beside it.
import type { Readable } from 'node:stream'
import Docker from 'dockerode'
import type { ContainerAttach, ContainerInfo, ContainerRuntime, ContainerSpec, EngineInfo, EventHandlers, EventSubscription, HelperSpec, ImageDefaults, LogOptions, NetworkInspector, PullProgress, ToolNetworkInfo, ToolSandbox } from '../types.ts'
import { attachContainer } from './attach.ts'
import { containerAction, createContainer, inspectContainer, listAll, listManaged, runHelper, type ContainerScope } from './containers.ts'
import { translateDockerError } from './errors.ts'
import { containerLogs, subscribe } from './events-and-logs.ts'
import { ImageLabels } from './image-labels.ts'
import { hasImage, imageDefaults, pullImage } from './images.ts'
import { toolNetworkInfo } from './networks.ts'

export interface DockerRuntimeOptions {
  socketPath: string
  /** Agent scope: only containers labelled with it are listed and watched. */
  scope: string
  sandbox: ToolSandbox
  pullTimeoutMs: number
}

/** Docker's 304: the container already is as asked. */
const NOT_MODIFIED = 304

export class DockerRuntime implements ContainerRuntime, NetworkInspector {
  private readonly docker: Docker
  private readonly containers: ContainerScope
  private readonly options: DockerRuntimeOptions

  constructor(options: DockerRuntimeOptions) {
    this.options = options
    this.docker = new Docker({ socketPath: options.socketPath })
    this.containers = { docker: this.docker, scope: options.scope, sandbox: options.sandbox, imageLabels: new ImageLabels(this.docker) }
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

  listManaged(): Promise<ContainerInfo[]> {
    return listManaged(this.containers)
  }

  toolNetwork(): Promise<ToolNetworkInfo> {
    return toolNetworkInfo(this.docker, this.options.sandbox.network)
  }

  listAll(): Promise<ContainerInfo[]> {
    return listAll(this.containers)
  }

  inspect(nameOrId: string): Promise<ContainerInfo | undefined> {
    return inspectContainer(this.containers, nameOrId)
  }

  hasImage(image: string): Promise<boolean> {
    return hasImage(this.docker, image)
  }

  imageDefaults(image: string): Promise<ImageDefaults> {
    return imageDefaults(this.docker, image)
  }

  pullImage(image: string, onProgress: (progress: PullProgress) => void): Promise<void> {
    return pullImage(this.docker, image, this.options.pullTimeoutMs, onProgress)
  }

  create(spec: ContainerSpec): Promise<string> {
    return createContainer(this.containers, spec)
  }

  start(id: string): Promise<void> {
    return containerAction(this.docker, id, 'start', (container) => container.start(), [NOT_MODIFIED])
  }

  stop(id: string, timeoutSeconds: number): Promise<void> {
    return containerAction(this.docker, id, 'stop', (container) => container.stop({ t: timeoutSeconds }), [NOT_MODIFIED])
  }

  restart(id: string, timeoutSeconds: number): Promise<void> {
    return containerAction(this.docker, id, 'restart', (container) => container.restart({ t: timeoutSeconds }))
  }

  /** Forced; a container already gone is what was asked. */
  remove(id: string): Promise<void> {
    return containerAction(this.docker, id, 'remove', (container) => container.remove({ force: true }), [404])
  }

  runHelper(spec: HelperSpec): Promise<string> {
    return runHelper(this.containers, spec)
  }

  logs(id: string, options: LogOptions): Promise<Readable> {
    return containerLogs(this.docker, id, options)
  }

  attach(id: string): Promise<ContainerAttach> {
    return attachContainer(this.docker, id)
  }

  subscribe(handlers: EventHandlers): Promise<EventSubscription> {
    return subscribe(this.docker, this.options.scope, handlers)
  }
}
