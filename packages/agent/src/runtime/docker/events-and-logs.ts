// The two streams DTMA reads from Docker: the event stream of this agent's
// containers (kept in step with in real time) and a container's logs, which
// Docker multiplexes and LogDemuxer turns back into bounded text.
import { pipeline, Readable } from 'node:stream'
import type Docker from 'dockerode'
import { DtmaError } from '../../errors.ts'
import { InstanceLabel, managedFilters } from '../labels.ts'
import { LogDemuxer } from '../log-demux.ts'
import type { ContainerEvent, EventSubscription, LogOptions } from '../types.ts'
import { translateDockerError } from './errors.ts'

export async function subscribe(docker: Docker, scope: string, onEvent: (event: ContainerEvent) => void, onEnd: (error: Error) => void): Promise<EventSubscription> {
  let stream: NodeJS.ReadableStream & { destroy(): void }
  try {
    stream = (await docker.getEvents({ filters: { type: ['container'], label: managedFilters(scope) } })) as typeof stream
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

export async function containerLogs(docker: Docker, id: string, options: LogOptions): Promise<Readable> {
  const query = { stdout: true, stderr: true, tail: options.tail, since: options.since ?? 0 }
  let source: Readable
  try {
    // Docker answers a buffer without follow and a live stream with it.
    const container = docker.getContainer(id)
    source = options.follow ? ((await container.logs({ ...query, follow: true })) as unknown as Readable) : Readable.from([await container.logs({ ...query, follow: false })])
  } catch (error) {
    throw translateDockerError(error, `read logs of container ${id}`)
  }
  // DTMA creates containers without a TTY, so Docker always multiplexes.
  const demuxer = new LogDemuxer(options.maxBytes)
  pipeline(source, demuxer, () => undefined)
  return demuxer
}
