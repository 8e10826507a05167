// What the chaos tests share: a seeded random source, so a failing round can
// be replayed, and a plain sleep for the kill points it draws.

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
