// A link carries JSON-RPC messages between the agent and one MCP server that
// speaks to a single client: a stdio server through the attach to its
// container, a legacy HTTP+SSE server through one SSE connection. The
// multiplexer puts many client sessions on it.
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import type { DropReason } from './json-lines.ts'

export interface LinkHandlers {
  message(message: JSONRPCMessage): void
  /** Connected (again). fresh: to a server process the agent has not initialized (a first start, a restart, a new agent). */
  up(fresh: boolean): void
  /** Disconnected: what was in flight will not be answered. */
  down(reason: string): void
}

export interface MessageLink {
  readonly isUp: boolean
  /** false: not sent (the link is down, or the server does not read what it is sent). */
  send(message: JSONRPCMessage): boolean
  /** Connects when it is not connected; rejects with the reason it cannot. */
  connect(): Promise<void>
  close(): void
}

/** Told what a link drops (metrics). */
export interface LinkObserver {
  dropped(reason: DropReason): void
}
