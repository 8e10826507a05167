// The agent's own recent log lines, for GET /logs: the last lines pino wrote
// (so already redacted), kept in memory and bounded, and the new ones as they
// come for a client that follows. A pino destination: one write per line.
export type LogLineListener = (line: string) => void

/** Lines kept: a few hours of a quiet agent, about 2 MB at most. */
const DEFAULT_CAPACITY = 5000

export class LogTail {
  private lines: string[] = []
  private readonly listeners = new Set<LogLineListener>()

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  write(text: string): void {
    const line = text.endsWith('\n') ? text.slice(0, -1) : text
    this.lines.push(line)
    // Trimmed in batches: one copy per `capacity` lines, not one per line.
    if (this.lines.length > 2 * this.capacity) this.lines = this.lines.slice(-this.capacity)
    for (const listener of this.listeners) listener(line)
  }

  /** The last `count` lines, oldest first. */
  tail(count: number): string[] {
    return count <= 0 ? [] : this.lines.slice(-Math.min(count, this.capacity))
  }

  /** Hears every line written from now on, until the returned function is called. */
  follow(listener: LogLineListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
