// MCP 2026-07-28's stateless requests over a multiplexed server (stdio, sse)
// that speaks an earlier revision, which is every such server today. Each
// request gets a session pipe of its own for its lifetime (mux-session.ts):
// its initialize is answered by the multiplexer from the server's one
// initialize answer (init-gate.ts), never sent to the server, with the
// capabilities the request declared in `_meta`; then the request travels
// over the shared link with its id rewritten, and the pipe closes with the
// answer. So the grant (granted-pipe.ts), the id, progress and cancellation
// rewriting and the server's ping all stay the multiplexer's.
//
// What the 2026 revision changed is done here:
// - server/discover is answered from the server's initialize answer;
// - a request of the server (sampling, elicitation, roots) during the call
//   becomes an input-required result (MRTR): the call stays open on the
//   server, its pipe kept under an opaque requestState for PENDING_MS; the
//   client's retry with inputResponses under that state answers the
//   server's requests, and the call goes on (another round, or its result);
// - subscriptions/listen keeps a pipe open and sends the server's
//   list_changed notifications on the stream (the server's session-era
//   notifications: every session's);
// - results carry resultType and, when cacheable, the caching hints.
import { randomBytes } from 'node:crypto'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import { EraRefusal, forServer, META, STATELESS_VERSIONS, stamped, type EraMessage, type Json } from './era.ts'
import type { SessionPipe } from './mux-session.ts'

/** How long a call that asked its client for input waits for the retry. */
export const PENDING_MS = 60_000
/** Calls waiting for their retry, at most (the oldest is ended first). */
const MAX_PENDING = 256
const SESSION_VERSION = '2025-11-25'

type Message = Json & { id?: string | number; method?: string; result?: Json; error?: Json; params?: Json }

/** The messages of one pipe, in order, awaited one at a time. */
class Conversation {
  private readonly queue: Message[] = []
  private waiter: ((message: Message | undefined) => void) | undefined
  private ended = false

  constructor(readonly pipe: SessionPipe) {
    pipe.onmessage = (message) => {
      if (this.waiter === undefined) return void this.queue.push(message as Message)
      const waiter = this.waiter
      this.waiter = undefined
      waiter(message as Message)
    }
    pipe.onclose = () => {
      this.ended = true
      this.waiter?.(undefined)
      this.waiter = undefined
    }
  }

  /** The next message of the server for this pipe; undefined once it closed. */
  next(): Promise<Message | undefined> {
    const queued = this.queue.shift()
    if (queued !== undefined || this.ended) return Promise.resolve(queued)
    return new Promise((resolve) => (this.waiter = resolve))
  }

  send(message: Message): void {
    this.pipe.send(message as unknown as JSONRPCMessage)
  }

  close(): void {
    this.pipe.close()
  }
}

export interface StatelessAnswer {
  /** The notifications that came before the answer (progress, log messages), then the answer. */
  messages: Json[]
}

interface Pending {
  conversation: Conversation
  owner: string
  method: string
  id: string | number
  /** The server's requests the client was asked to answer, by the key it was given. */
  asked: Set<string>
  timer: NodeJS.Timeout
}

export class StatelessBridge {
  private readonly pending = new Map<string, Pending>()

  /** Answers one stateless request; owner: who may retry it (the caller's instance and grant); gone: the caller went away (its call is cancelled). */
  async handle(open: () => SessionPipe, message: EraMessage, capabilities: Json, owner: string, gone?: AbortSignal): Promise<StatelessAnswer> {
    const id = message.id as string | number
    const method = message.method as string
    const state = message.params?.requestState
    if (typeof state === 'string' && this.pending.has(state)) return this.resume(state, message, owner, gone)
    if (typeof state === 'string' && method !== 'server/discover') {
      // A state the agent never gave, or one that expired or was tampered with: the call cannot go on.
      throw new EraRefusal(400, -32602, 'Invalid params: requestState is unknown or expired; send the request again without it')
    }
    const conversation = new Conversation(open())
    const init = await this.initialize(conversation, capabilities, message.params?._meta as Json | undefined)
    if (method === 'server/discover') {
      conversation.close()
      const result = { supportedVersions: STATELESS_VERSIONS, capabilities: init.capabilities ?? {}, ...(init.instructions !== undefined && { instructions: init.instructions }), _meta: { [META.serverInfo]: init.serverInfo } }
      return { messages: [{ jsonrpc: '2.0', id, result: stamped(method, result) }] }
    }
    conversation.send(forServer(message, id) as unknown as Message)
    return this.follow(conversation, method, id, owner, gone)
  }

  /** Opens a listen stream: write gets the acknowledgement, then each list_changed notification; returns the way to end it. */
  async listen(open: () => SessionPipe, message: EraMessage, capabilities: Json, write: (message: Json) => void): Promise<() => void> {
    const conversation = new Conversation(open())
    const init = await this.initialize(conversation, capabilities, message.params?._meta as Json | undefined)
    const asked = (message.params?.notifications ?? {}) as Record<string, unknown>
    const offered = (init.capabilities ?? {}) as Json
    const kinds: Array<[string, string]> = [
      ['toolsListChanged', 'tools'],
      ['promptsListChanged', 'prompts'],
      ['resourcesListChanged', 'resources']
    ]
    const honoured = Object.fromEntries(kinds.filter(([key, capability]) => asked[key] === true && (offered[capability] as Json | undefined)?.listChanged === true).map(([key]) => [key, true]))
    const subscriptionId = String(message.id)
    const meta = { [META.subscriptionId]: subscriptionId }
    write({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: meta, notifications: honoured } })
    const wanted = new Set(kinds.filter(([key]) => honoured[key] === true).map(([, capability]) => `notifications/${capability}/list_changed`))
    void (async () => {
      for (let next = await conversation.next(); next !== undefined; next = await conversation.next()) {
        if (typeof next.method === 'string' && wanted.has(next.method)) write({ jsonrpc: '2.0', method: next.method, params: { ...(next.params ?? {}), _meta: meta } })
      }
    })()
    return () => conversation.close()
  }

  /** Ends every call that waits for its retry. */
  closeAll(): void {
    for (const [state, entry] of this.pending) this.drop(state, entry)
  }

  private async initialize(conversation: Conversation, capabilities: Json, meta: Json | undefined): Promise<Json> {
    const clientInfo = (meta?.[META.clientInfo] as Json | undefined) ?? { name: 'stateless-client', version: '0' }
    conversation.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: SESSION_VERSION, capabilities, clientInfo } })
    const answer = await conversation.next()
    if (answer?.result === undefined) {
      conversation.close()
      throw new EraRefusal(503, -32603, `the MCP server is not available: ${String((answer?.error as Json | undefined)?.message ?? 'its session closed')}`)
    }
    conversation.send({ jsonrpc: '2.0', method: 'notifications/initialized' })
    return answer.result
  }

  /** Reads the pipe until the call's answer, or a request of the server (then the call waits for the client's input). */
  private async follow(conversation: Conversation, method: string, id: string | number, owner: string, gone?: AbortSignal): Promise<StatelessAnswer> {
    // A caller that goes away while the server works: its pipe closes, which cancels the call on the server.
    const cancel = () => conversation.close()
    if (gone?.aborted === true) cancel()
    gone?.addEventListener('abort', cancel, { once: true })
    try {
      return await this.read(conversation, method, id, owner)
    } finally {
      gone?.removeEventListener('abort', cancel)
    }
  }

  private async read(conversation: Conversation, method: string, id: string | number, owner: string): Promise<StatelessAnswer> {
    const messages: Json[] = []
    for (;;) {
      const next = await conversation.next()
      if (next === undefined) {
        messages.push({ jsonrpc: '2.0', id, error: { code: -32603, message: 'the connection to the MCP server was lost' } })
        return { messages }
      }
      if (next.method === undefined && next.id === id) {
        conversation.close()
        messages.push(next.result === undefined ? next : { ...next, result: stamped(method, next.result) })
        return { messages }
      }
      if (next.method !== undefined && next.id !== undefined) {
        messages.push({ jsonrpc: '2.0', id, result: this.askInput(conversation, method, id, owner, next) })
        return { messages }
      }
      if (next.method !== undefined) messages.push(next)
    }
  }

  /** The server asked its client something: the call waits under a fresh requestState, and the client is asked for the input. */
  private askInput(conversation: Conversation, method: string, id: string | number, owner: string, request: Message): Json {
    const state = randomBytes(18).toString('base64url')
    const key = String(request.id)
    if (this.pending.size >= MAX_PENDING) {
      const [oldest, entry] = this.pending.entries().next().value as [string, Pending]
      this.drop(oldest, entry)
    }
    const timer = setTimeout(() => this.drop(state, this.pending.get(state)), PENDING_MS).unref()
    this.pending.set(state, { conversation, owner, method, id, asked: new Set([key]), timer })
    return { resultType: 'input_required', inputRequests: { [key]: { method: request.method, params: request.params ?? {} } }, requestState: state }
  }

  private async resume(state: string, message: EraMessage, owner: string, gone?: AbortSignal): Promise<StatelessAnswer> {
    const entry = this.pending.get(state) as Pending
    if (entry.owner !== owner || entry.method !== message.method) throw new EraRefusal(400, -32602, 'Invalid params: requestState is unknown or expired; send the request again without it')
    const responses = (message.params?.inputResponses ?? {}) as Record<string, unknown>
    const id = message.id as string | number
    const missing = [...entry.asked].filter((key) => responses[key] === undefined)
    if (missing.length > 0) {
      // Still waiting for them: the client is asked again, under the same state.
      return { messages: [{ jsonrpc: '2.0', id, result: { resultType: 'input_required', requestState: state } }] }
    }
    this.pending.delete(state)
    clearTimeout(entry.timer)
    for (const key of entry.asked) entry.conversation.send({ jsonrpc: '2.0', id: key, result: responses[key] as Json })
    // The server's own id for the call stays the first request's; the client's retry has an id of its own.
    const answer = await this.follow(entry.conversation, entry.method, entry.id, owner, gone)
    return { messages: answer.messages.map((item) => (item.id === entry.id && item.method === undefined ? { ...item, id } : item)) }
  }

  private drop(state: string, entry: Pending | undefined): void {
    if (entry === undefined) return
    this.pending.delete(state)
    clearTimeout(entry.timer)
    entry.conversation.close()
  }
}
