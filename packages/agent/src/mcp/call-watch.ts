// What the audit trail is told of a caller's calls (model/call-record.ts):
// every tools/call, resources/read and prompts/get request a caller sends,
// matched by its id with the answer it gets, whoever made it (the server,
// the multiplexer, or the agent's own refusal). One watch per caller session
// of a multiplexed server (granted-pipe.ts) or per POST to an http server
// (proxy-grant.ts); what is still unanswered when it ends is recorded lost.
// The arguments are kept only as the SHA-256 of their canonical JSON.
import { createHash } from 'node:crypto'
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js'
import type { AuditedMethod, CallOutcome, CallRecord, CallRecorder } from '../model/call-record.ts'
import { LINK_LOST } from './multiplexer.ts'

const AUDITED = new Set<string>(['tools/call', 'resources/read', 'prompts/get'])
const TARGET_CHARS = 200
const REASON_CHARS = 120

export interface CallWatchOptions {
  recorder: CallRecorder
  instanceName: string
  caller: string
  /** Whether the server's last listing shows this tool, resource or prompt. */
  listed: (method: AuditedMethod, target: string) => boolean
  now?: () => number
}

type Pending = Omit<CallRecord, 'durationMs' | 'outcome'>
type Message = { id?: RequestId; method?: string; params?: { name?: unknown; uri?: unknown; arguments?: unknown }; result?: { isError?: unknown }; error?: { code?: unknown; message?: unknown; data?: { code?: unknown } } }

/** JSON with every object's keys sorted: equal arguments, equal text, whatever order the caller wrote. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, item]) => item !== undefined)
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

export function argumentsDigest(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args ?? null)).digest('hex')
}

export class CallWatch {
  private readonly pending = new Map<RequestId, Pending>()
  private readonly now: () => number

  constructor(private readonly options: CallWatchOptions) {
    this.now = options.now ?? Date.now
  }

  /** A message the caller sent (before any refusal). */
  request(message: unknown): void {
    const { id, method, params } = message as Message
    if (id === undefined || method === undefined || !AUDITED.has(method)) return
    const audited = method as AuditedMethod
    const named = audited === 'resources/read' ? params?.uri : params?.name
    const target = typeof named === 'string' ? named.slice(0, TARGET_CHARS) : ''
    const earlier = this.pending.get(id)
    if (earlier !== undefined) this.settle(id, earlier, 'lost', { reason: 'its request id was used again before an answer' })
    this.pending.set(id, {
      at: this.now(),
      instanceName: this.options.instanceName,
      caller: this.options.caller,
      method: audited,
      target,
      listed: target !== '' && this.options.listed(audited, target),
      argsSha256: argumentsDigest(params?.arguments)
    })
  }

  /** A message on its way to the caller; `refused`: the agent's own refusal of the request it answers. */
  answer(message: JSONRPCMessage | unknown, refused = false): void {
    const { id, method, result, error } = message as Message
    if (method !== undefined || id === undefined) return
    const call = this.pending.get(id)
    if (call === undefined) return
    if (error !== undefined) {
      const code = typeof error.code === 'number' ? error.code : undefined
      const dtmaCode = typeof error.data?.code === 'string' ? error.data.code.slice(0, REASON_CHARS) : undefined
      if (!refused && typeof error.message === 'string' && error.message.startsWith(LINK_LOST)) return this.settle(id, call, 'lost', { reason: LINK_LOST })
      if (refused) this.settle(id, call, 'refused', { reason: dtmaCode ?? 'refused by the agent', ...(code !== undefined && { errorCode: code }) })
      else this.settle(id, call, 'protocol-error', { ...(code !== undefined && { errorCode: code }), ...(dtmaCode !== undefined && { reason: dtmaCode }) })
      return
    }
    this.settle(id, call, result?.isError === true ? 'tool-error' : 'ok', {})
  }

  /** The requests still unanswered, recorded lost (the session closed, the server went away). */
  lost(reason: string): void {
    for (const [id, call] of this.pending) this.settle(id, call, 'lost', { reason: reason.slice(0, REASON_CHARS) })
  }

  /** The requests still unanswered, answered together by an error that is not theirs alone (an http server's 4xx, 5xx). */
  failed(reason: string): void {
    for (const [id, call] of this.pending) this.settle(id, call, 'protocol-error', { reason: reason.slice(0, REASON_CHARS) })
  }

  get size(): number {
    return this.pending.size
  }

  private settle(id: RequestId, call: Pending, outcome: CallOutcome, extra: Pick<CallRecord, 'errorCode' | 'reason'>): void {
    this.pending.delete(id)
    this.options.recorder.record({ ...call, durationMs: Math.max(0, this.now() - call.at), outcome, ...extra })
  }
}
