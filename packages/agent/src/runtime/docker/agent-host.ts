// The Docker adapter of the upgrader (AgentHost): the agent's own container
// and what an upgrade does to it. Errors are Docker's, translated.
import type { Readable } from 'node:stream'
import Docker from 'dockerode'
import { CARRIED_HOST_KEYS, type AgentContainer, type AgentContainerSpec, type AgentHost, type AgentImage, type PortBindingMap, type RunningContainer } from '../agent-host.ts'
import { statusOf, translateDockerError } from './errors.ts'

const NOT_MODIFIED = 304

async function orUndefined<T>(work: Promise<T>, action: string): Promise<T | undefined> {
  try {
    return await work
  } catch (error) {
    if (statusOf(error) === 404) return undefined
    throw translateDockerError(error, action)
  }
}

async function attempt(work: () => Promise<unknown>, action: string, ignored: number[] = []): Promise<void> {
  try {
    await work()
  } catch (error) {
    if (ignored.includes(statusOf(error) ?? 0)) return
    throw translateDockerError(error, action)
  }
}

export class DockerAgentHost implements AgentHost {
  private readonly docker: Docker

  constructor(socketPath: string) {
    this.docker = new Docker({ socketPath })
  }

  async inspect(nameOrId: string): Promise<AgentContainer | undefined> {
    const info = await orUndefined(this.docker.getContainer(nameOrId).inspect(), `inspect container ${nameOrId}`)
    if (info === undefined) return undefined
    const host = info.HostConfig
    return {
      id: info.Id,
      name: info.Name.replace(/^\//, ''),
      image: info.Config.Image,
      imageId: info.Image,
      state: info.State.Status,
      exitCode: info.State.ExitCode,
      restartCount: info.RestartCount,
      env: info.Config.Env ?? [],
      labels: info.Config.Labels ?? {},
      portBindings: (host.PortBindings ?? {}) as PortBindingMap,
      binds: host.Binds ?? [],
      mounts: (info.Mounts ?? []).map((mount) => ({ type: mount.Type, source: mount.Name ?? mount.Source, destination: mount.Destination })),
      restartPolicy: { Name: host.RestartPolicy?.Name ?? 'no', ...(host.RestartPolicy?.MaximumRetryCount !== undefined && { MaximumRetryCount: host.RestartPolicy.MaximumRetryCount }) },
      networkMode: host.NetworkMode ?? 'default',
      ...(host.LogConfig?.Type !== undefined && { logConfig: { Type: host.LogConfig.Type, Config: host.LogConfig.Config as Record<string, string> } }),
      carried: {
        host: Object.fromEntries(CARRIED_HOST_KEYS.flatMap((key) => ((host as Record<string, unknown>)[key] == null ? [] : [[key, (host as Record<string, unknown>)[key]]]))),
        user: info.Config.User ?? '',
        hostname: info.Config.Hostname ?? ''
      },
      inspect: info
    }
  }

  async image(reference: string): Promise<AgentImage | undefined> {
    const info = await orUndefined(this.docker.getImage(reference).inspect(), `inspect image ${reference}`)
    if (info === undefined) return undefined
    return { id: info.Id, user: info.Config?.User ?? '', env: info.Config?.Env ?? [], labels: info.Config?.Labels ?? {}, exposedPorts: Object.keys(info.Config?.ExposedPorts ?? {}) }
  }

  async pull(reference: string): Promise<void> {
    try {
      const stream = await this.docker.pull(reference)
      await new Promise<void>((resolve, reject) => this.docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())))
    } catch (error) {
      throw translateDockerError(error, `pull image ${reference}`)
    }
  }

  async create(spec: AgentContainerSpec): Promise<string> {
    try {
      const container = await this.docker.createContainer({
        name: spec.name,
        Image: spec.image,
        Env: spec.env,
        Labels: spec.labels,
        ...(spec.user !== undefined && { User: spec.user }),
        ...(spec.hostname !== undefined && { Hostname: spec.hostname }),
        ExposedPorts: Object.fromEntries(spec.exposedPorts.map((port) => [port, {}])),
        HostConfig: {
          ...spec.host,
          PortBindings: spec.portBindings,
          Binds: spec.binds,
          RestartPolicy: spec.restartPolicy,
          NetworkMode: spec.networkMode,
          ...(spec.logConfig !== undefined && { LogConfig: spec.logConfig })
        }
      } as Docker.ContainerCreateOptions)
      return container.id
    } catch (error) {
      throw translateDockerError(error, `create container ${spec.name}`)
    }
  }

  start(id: string): Promise<void> {
    return attempt(() => this.docker.getContainer(id).start(), `start container ${id}`, [NOT_MODIFIED])
  }

  stop(id: string, timeoutSeconds: number): Promise<void> {
    return attempt(() => this.docker.getContainer(id).stop({ t: timeoutSeconds }), `stop container ${id}`, [NOT_MODIFIED])
  }

  remove(id: string): Promise<void> {
    return attempt(() => this.docker.getContainer(id).remove({ force: true }), `remove container ${id}`, [404])
  }

  rename(id: string, name: string): Promise<void> {
    return attempt(() => this.docker.getContainer(id).rename({ name }), `rename container ${id} to ${name}`)
  }

  async volumeExists(name: string): Promise<boolean> {
    return (await orUndefined(this.docker.getVolume(name).inspect(), `inspect volume ${name}`)) !== undefined
  }

  createVolume(name: string, labels: Record<string, string>): Promise<void> {
    return attempt(() => this.docker.createVolume({ Name: name, Labels: labels }), `create volume ${name}`)
  }

  removeVolume(name: string): Promise<void> {
    return attempt(() => this.docker.getVolume(name).remove(), `remove volume ${name}`, [404])
  }

  archive(id: string, path: string): Promise<Readable | undefined> {
    return orUndefined(this.docker.getContainer(id).getArchive({ path }) as Promise<Readable>, `copy ${path} out of container ${id}`)
  }

  putArchive(id: string, directory: string, tar: Readable): Promise<void> {
    return attempt(() => this.docker.getContainer(id).putArchive(tar, { path: directory }), `copy into ${directory} of container ${id}`)
  }

  async running(): Promise<RunningContainer[]> {
    try {
      const summaries = await this.docker.listContainers({ filters: { status: ['running'] } })
      return summaries.map((summary) => ({
        id: summary.Id,
        name: (summary.Names[0] ?? '').replace(/^\//, ''),
        labels: summary.Labels ?? {},
        mounts: (summary.Mounts ?? []).map((mount) => ({ type: mount.Type, source: mount.Name ?? mount.Source, destination: mount.Destination }))
      }))
    } catch (error) {
      throw translateDockerError(error, 'list running containers')
    }
  }
}
