// The link to a stdio MCP server: one attach to its container's stdin and
// stdout through the runtime (the Engine API), newline-delimited JSON-RPC
// both ways. Its stdin stays open between attaches, so after an agent restart
// or a dropped attach the link attaches again; the container's start time
// tells a new server process (initialize it) from the same one. What the
// server writes is bounded (line length, bytes and messages per second: a
// flood is paused, which stops the server's writes) and what is not JSON-RPC
// is dropped and counted, logged at most once a minute with the count.
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { ContainerAttach, ContainerRuntime } from '../runtime/types.ts'
import { JsonLineReader, type DropReason } from './json-lines.ts'
import type { LinkHandlers, LinkObserver, MessageLink } from './link.ts'

/** What one server may make the agent read per second before its output is paused. */
const READ_BYTES_PER_S = 8 * 1024 * 1024
const READ_MESSAGES_PER_S = 20_000
/** What a server drops is logged at most this often. */
const DROP_LOG_INTERVAL_MS = 60_000
/** Quick attempts to attach again after an attach ends (a restart comes back within them). */
const RETRY_DELAYS_MS = [100, 250, 500, 1000, 2000]

const uncork = (stdin: ContainerAttach['stdin']): void => stdin.uncork()

export interface StdioLinkOptions {
  runtime: Pick<ContainerRuntime, 'attach' | 'inspect'>
  containerId: string
  maxMessageBytes: number
  logger: Logger
  observer: LinkObserver
  handlers: LinkHandlers
}

export class StdioLink implements MessageLink {
  private attached: ContainerAttach | undefined
  private connecting: Promise<void> | undefined
  private startedAt: string | undefined
  private closed = false
  private retry: NodeJS.Timeout | undefined
  private readonly reader: JsonLineReader
  private dropped = 0
  private droppedLoggedAt = 0
  private window = { start: 0, bytes: 0, messages: 0 }
  private readonly stdinBacklogMax: number

  constructor(private readonly options: StdioLinkOptions) {
    this.stdinBacklogMax = Math.max(8 * 1024 * 1024, 2 * options.maxMessageBytes)
    this.reader = new JsonLineReader(options.maxMessageBytes, (message) => this.received(message), (reason) => this.drop(reason))
  }

  get isUp(): boolean {
    return this.attached !== undefined
  }

  send(message: JSONRPCMessage): boolean {
    const stdin = this.attached?.stdin
    if (stdin === undefined || stdin.writableLength > this.stdinBacklogMax) return false
    // Messages of one turn of the event loop (every POST read in it) go out in
    // one write: each write wakes dockerd, which costs more than the message.
    if (stdin.writableCorked === 0) {
      stdin.cork()
      setImmediate(uncork, stdin)
    }
    stdin.write(`${JSON.stringify(message)}\n`)
    return true
  }

  connect(): Promise<void> {
    if (this.attached !== undefined) return Promise.resolve()
    if (this.closed) return Promise.reject(new DtmaError('unavailable', 'the MCP link is closed'))
    this.connecting ??= this.attach().finally(() => (this.connecting = undefined))
    return this.connecting
  }

  close(): void {
    this.closed = true
    clearTimeout(this.retry)
    this.attached?.close()
    this.attached = undefined
  }

  private async attach(): Promise<void> {
    const { runtime, containerId } = this.options
    const info = await runtime.inspect(containerId)
    if (info?.dockerState !== 'running') throw new DtmaError('unavailable', 'its container is not running')
    const attached = await runtime.attach(containerId)
    if (this.closed) return attached.close()
    const fresh = info.startedAt === undefined || info.startedAt !== this.startedAt
    this.startedAt = info.startedAt
    this.attached = attached
    this.reader.reset()
    // An agent killed in the middle of a write leaves half a line in the
    // server's input: end it, so the next message is read whole.
    attached.stdin.write('\n')
    attached.stdin.on('error', () => this.lost(attached, 'its stdin closed'))
    attached.stderr.resume()
    attached.stdout.on('data', (chunk: Buffer) => this.read(attached, chunk))
    attached.stdout.once('end', () => this.lost(attached, 'the attach to its container ended'))
    attached.stdout.once('close', () => this.lost(attached, 'the attach to its container ended'))
    this.options.handlers.up(fresh)
  }

  private lost(attached: ContainerAttach, reason: string): void {
    if (this.attached !== attached) return
    attached.close()
    this.attached = undefined
    this.options.handlers.down(reason)
    this.retryAttach(0)
  }

  private retryAttach(attempt: number): void {
    const delay = RETRY_DELAYS_MS[attempt]
    if (this.closed || delay === undefined) return
    this.retry = setTimeout(() => {
      this.connect().catch(() => this.retryAttach(attempt + 1))
    }, delay)
    this.retry.unref()
  }

  private read(attached: ContainerAttach, chunk: Buffer): void {
    this.reader.push(chunk)
    this.window.bytes += chunk.length
    this.throttle(attached)
  }

  private received(message: JSONRPCMessage): void {
    this.window.messages += 1
    this.options.handlers.message(message)
  }

  private drop(reason: DropReason): void {
    this.dropped += 1
    this.options.observer.dropped(reason)
    const now = Date.now()
    if (now - this.droppedLoggedAt < DROP_LOG_INTERVAL_MS) return
    this.options.logger.warn({ reason, dropped: this.dropped }, 'MCP server writes what is not JSON-RPC (or too long a line): dropped (logged at most once a minute)')
    this.droppedLoggedAt = now
    this.dropped = 0
  }

  /** Past the budget of this second, the server's output waits for the next. */
  private throttle(attached: ContainerAttach): void {
    const now = Date.now()
    if (now - this.window.start >= 1000) this.window = { start: now, bytes: 0, messages: 0 }
    if (this.window.bytes <= READ_BYTES_PER_S && this.window.messages <= READ_MESSAGES_PER_S) return
    attached.stdout.pause()
    setTimeout(() => {
      if (this.attached === attached) attached.stdout.resume()
    }, this.window.start + 1000 - now).unref()
  }
}
