// Newline-delimited JSON-RPC from an untrusted server's stdout, bounded. The
// SDK has a reader for this (shared/stdio.js ReadBuffer), but it grows
// without limit on a line that never ends and throws on the first line that
// is not JSON: a server that floods or writes garbage would take the agent's
// memory or its link with it. Here a line longer than the limit is skipped to
// its end without being kept, and what is not a JSON-RPC message is dropped
// and counted, so the next good line still goes through. A message is judged
// by its shape only (what routing needs; the caller's client checks the
// rest): the SDK's schema costs more per message than the whole hop.
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'

export type DropReason = 'too-long' | 'not-json' | 'not-json-rpc'

const NEWLINE = 0x0a
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b

export class JsonLineReader {
  private parts: Buffer[] = []
  private size = 0
  /** Inside a line already over the limit: its bytes are skipped up to its end. */
  private skipping = false

  constructor(
    private readonly maxBytes: number,
    private readonly onMessage: (message: JSONRPCMessage) => void,
    private readonly onDrop: (reason: DropReason) => void
  ) {}

  push(chunk: Buffer): void {
    let start = 0
    for (let newline = chunk.indexOf(NEWLINE, start); newline >= 0; newline = chunk.indexOf(NEWLINE, start)) {
      this.endLine(chunk.subarray(start, newline))
      start = newline + 1
    }
    if (start < chunk.length) this.keep(chunk.subarray(start))
  }

  /** Forgets a partial line (the stream it came from ended). */
  reset(): void {
    this.parts = []
    this.size = 0
    this.skipping = false
  }

  private keep(part: Buffer): void {
    if (this.skipping) return
    if (this.size + part.length > this.maxBytes) {
      this.reset()
      this.skipping = true
      this.onDrop('too-long')
      return
    }
    // A copy: the chunk's memory is Docker's frame buffer, reused or large.
    this.parts.push(Buffer.from(part))
    this.size += part.length
  }

  private endLine(last: Buffer): void {
    if (this.skipping) {
      this.reset()
      return
    }
    if (this.size + last.length > this.maxBytes) {
      this.reset()
      this.onDrop('too-long')
      return
    }
    const line = this.parts.length === 0 ? last : Buffer.concat([...this.parts, last])
    this.reset()
    this.parse(line)
  }

  private parse(line: Buffer): void {
    let first = 0
    while (first < line.length && (line[first] === 0x20 || line[first] === 0x09 || line[first] === 0x0d)) first++
    if (first === line.length) return
    // Checked before any parse: a flood of text costs a byte compare per line.
    if (line[first] !== OPEN_BRACE && line[first] !== OPEN_BRACKET) return this.onDrop('not-json')
    let value: unknown
    try {
      value = JSON.parse(line.toString('utf8'))
    } catch {
      return this.onDrop('not-json')
    }
    for (const item of Array.isArray(value) ? value : [value]) {
      if (isJsonRpcMessage(item)) this.onMessage(item)
      else this.onDrop('not-json-rpc')
    }
  }
}

const isId = (id: unknown): boolean => typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id))
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

/** A request or notification (a method, params an object when given), or a response (an id and a result object or an error). */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (!isObject(value) || value.jsonrpc !== '2.0') return false
  if (typeof value.method === 'string') return (value.id === undefined || isId(value.id)) && (value.params === undefined || isObject(value.params))
  if (!isId(value.id)) return false
  if (isObject(value.result)) return value.error === undefined
  return isObject(value.error) && typeof value.error.code === 'number' && typeof value.error.message === 'string'
}
