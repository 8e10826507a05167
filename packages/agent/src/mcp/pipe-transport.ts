// The SDK's Transport over a session pipe, so the official SDK Client can be
// the agent's own session of a multiplexed server (its health monitor).
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import type { SessionPipe } from './mux-session.ts'

export class PipeTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void
  onclose?: () => void
  onerror?: (error: Error) => void

  constructor(private readonly pipe: SessionPipe) {
    pipe.onmessage = (message) => this.onmessage?.(message)
    pipe.onclose = () => this.onclose?.()
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    this.pipe.send(message)
  }

  async close(): Promise<void> {
    this.pipe.close()
  }
}
