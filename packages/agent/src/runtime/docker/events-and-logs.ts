// The two streams DTMA reads from Docker: the event stream of this agent's
// containers (kept in step with in real time, line by line through a UTF-8
// line decoder that skips what it cannot read) and a container's logs, which
// Docker multiplexes and LogDemuxer turns back into bounded text as they come.
import { pipeline, type Readable } from 'node:stream'
import type Docker from 'dockerode'
import { DtmaError } from '../../errors.ts'
import { InstanceLabel, managedFilters } from '../labels.ts'
import { LineDecoder } from '../line-decoder.ts'
import { LogDemuxer } from '../log-demux.ts'
import type { EventHandlers, EventSubscription, LogOptions } from '../types.ts'
import { translateDockerError } from './errors.ts'

/** An event carries the container's labels (the image's too): far below this; a longer line is malformed. */
const MAX_EVENT_LINE_BYTES = 1024 * 1024

export async function subscribe(docker: Docker, scope: string, handlers: EventHandlers): Promise<EventSubscription> {
  let stream: Readable
  try {
    stream = (await docker.getEvents({ filters: { type: ['container'], label: managedFilters(scope) } })) as unknown as Readable
  } catch (error) {
    throw translateDockerError(error, 'subscribe to Docker events')
  }
  const closed = { value: false }
  const end = (error: Error) => {
    if (closed.value) return
    closed.value = true
    handlers.onEnd(error)
  }
  readEventStream(stream, handlers, closed)
  stream.on('error', (error: Error) => end(translateDockerError(error, 'follow Docker events')))
  stream.on('end', () => end(new DtmaError('unavailable', 'Docker event stream ended')))
  return {
    close() {
      closed.value = true
      stream.destroy()
    }
  }
}

/** Docker's newline-delimited JSON events -> ContainerEvents; a line that is not one is reported and skipped. */
export function readEventStream(stream: Readable, handlers: Pick<EventHandlers, 'onEvent' | 'onMalformed'>, closed: { value: boolean } = { value: false }): void {
  const malformed = (reason: string) => handlers.onMalformed?.(reason)
  const lines = new LineDecoder({ maxLineBytes: MAX_EVENT_LINE_BYTES, onOversized: () => malformed(`a line over ${MAX_EVENT_LINE_BYTES} bytes`) })
  const read = (line: string) => {
    if (closed.value || line.trim() === '') return
    let event: DockerEvent
    try {
      event = JSON.parse(line) as DockerEvent
    } catch {
      return malformed('a line that is not JSON')
    }
    if (typeof event !== 'object' || event === null) return malformed('a line that is not a JSON object')
    handlers.onEvent({
      containerId: event.Actor?.ID ?? event.id ?? '',
      action: event.Action ?? event.status ?? '',
      instanceName: event.Actor?.Attributes?.[InstanceLabel.instanceName]
    })
  }
  stream.on('data', (chunk: Buffer) => lines.push(chunk).forEach(read))
  stream.on('end', () => lines.end().forEach(read))
}

interface DockerEvent {
  id?: string
  Action?: string
  status?: string
  Actor?: { ID?: string; Attributes?: Record<string, string> }
}

export async function containerLogs(docker: Docker, id: string, options: LogOptions): Promise<Readable> {
  const query = { stdout: true, stderr: true, tail: options.tail, since: options.since ?? 0 }
  let source: Readable
  try {
    source = await openLogs(docker, id, { ...query, follow: options.follow === true })
  } catch (error) {
    throw translateDockerError(error, `read logs of container ${id}`)
  }
  // DTMA creates containers without a TTY, so Docker always multiplexes.
  const demuxer = new LogDemuxer(options.maxBytes)
  pipeline(source, demuxer, () => undefined)
  return demuxer
}

/** Docker's log answer as a stream, with or without follow: dockerode would
 *  read a non-follow answer whole into memory before the cap could apply. */
function openLogs(docker: Docker, id: string, query: Record<string, unknown>): Promise<Readable> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      { path: `/containers/${encodeURIComponent(id)}/logs?`, method: 'GET', isStream: true, statusCodes: { 200: true, 404: 'no such container', 500: 'server error' }, options: query },
      (error, stream) => (error ? reject(error) : resolve(stream as Readable))
    )
  })
}
