// What the chaos tests share: a seeded random source, so a failing round can
// be replayed, and a plain sleep for the kill points it draws; and, for a
// failed round, what the agents logged and what Docker did, in time order.
import type Docker from 'dockerode'

/** Seeded, so a failing round can be replayed. */
export function prng(seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What a log line may show of a take-over: names, ids, steps and errors, never env values. */
const SHOWN = ['instanceName', 'operation', 'containerId', 'containerName', 'previousContainer', 'previousContainerId', 'replaced', 'taken', 'was', 'dockerState', 'desiredState', 'trigger', 'attempt', 'durationMs', 'retryInMs']

/** The lines of agents' logs (pino JSON, one output per agent in start order) since a
 *  time about one instance or its containers, and every warning or error, as
 *  `agent N +ms level msg {fields}`. */
export function logLinesAbout(outputs: string[], needles: string[], since: number): string[] {
  const lines: string[] = []
  outputs.forEach((output, agent) => {
    for (const text of output.split('\n')) {
      let line: Record<string, unknown>
      try {
        line = JSON.parse(text) as Record<string, unknown>
      } catch {
        if (text.trim() !== '') lines.push(`agent ${agent} (not JSON) ${text.slice(0, 200)}`)
        continue
      }
      if (Number(line.time) < since) continue
      const about = needles.some((needle) => SHOWN.some((key) => typeof line[key] === 'string' && (line[key] as string).includes(needle)))
      if (!about && Number(line.level) < 40) continue
      const fields = Object.fromEntries(SHOWN.filter((key) => line[key] !== undefined).map((key) => [key, line[key]]))
      const err = line.err as { message?: string } | undefined
      lines.push(`agent ${agent} +${Number(line.time) - since}ms ${String(line.level)} ${String(line.msg)} ${JSON.stringify(fields)}${err?.message !== undefined ? ` err: ${err.message}` : ''}`)
    }
  })
  return lines
}

interface ContainerEvent {
  Action: string
  timeNano: number
  Actor: { ID: string; Attributes?: Record<string, string> }
}

/** Docker's container events from now on, kept until stop(): on a failed round, which
 *  container was created, started, stopped or destroyed when (and by the names that matter). */
export async function watchContainerEvents(docker: Docker): Promise<{ about(names: string[], ids: string[], since: number): string[]; stop(): void }> {
  const events: ContainerEvent[] = []
  const stream = (await docker.getEvents({ filters: { type: ['container'] } })) as NodeJS.ReadableStream & { destroy?: () => void }
  let rest = ''
  stream.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) {
      try {
        events.push(JSON.parse(line) as ContainerEvent)
      } catch {
        // not an event line: skipped
      }
    }
  })
  stream.on('error', () => undefined)
  return {
    about(names, ids, since) {
      return events
        .filter((event) => event.timeNano / 1e6 >= since)
        .filter((event) => ids.includes(event.Actor.ID) || names.some((name) => event.Actor.Attributes?.name === name || event.Actor.Attributes?.['dtma.instance-name'] === name))
        .map((event) => `docker +${Math.round(event.timeNano / 1e6 - since)}ms ${event.Action} ${event.Actor.Attributes?.name ?? ''} (${event.Actor.ID.slice(0, 12)})`)
    },
    stop: () => stream.destroy?.()
  }
}
