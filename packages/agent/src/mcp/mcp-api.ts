// What the HTTP app needs of the MCP side: the way to an instance's server
// (sessions of a multiplexed one, or the address of an http one's own
// endpoint), what it last listed, and a wait for its readiness. The app is
// built on this interface, like InstanceApi.
import type { McpCapabilities, McpDriftState } from '@dtma/contract'
import type { ProxiedAnswer, ProxiedRequest } from './http-proxy.ts'
import type { SessionPipe } from './mux-session.ts'
import type { StatelessBridge } from './stateless-bridge.ts'
import type { McpAccess } from './tool-grant.ts'

export type { McpAccess, ProxiedAnswer, ProxiedRequest }
export type { StatelessAnswer } from './stateless-bridge.ts'
/** The two eras on one endpoint (era.ts): what tells a 2026-07-28 stateless request, and its checks. */
export { checkNames, checkStateless, EraRefusal, isStateless, type EraMessage } from './era.ts'
/** The shape of a JSON-RPC message (json-lines.ts): what the hot path checks of a POST before it goes to the server. */
export { isJsonRpcMessage } from './json-lines.ts'

export type McpEndpoint =
  | { kind: 'sessions'; open(): SessionPipe }
  /** Relays one request to the server's own endpoint; throws DTMA's error for its refusals. */
  | {
      kind: 'proxy'
      forward(request: ProxiedRequest): Promise<ProxiedAnswer>
      /** A 2026-07-28 caller's pipe when the server speaks only the session era (the agent translates); undefined: relay to it. */
      stateless(): Promise<(() => SessionPipe) | undefined>
    }

/** An MCP server of the toolbox, as the aggregated endpoint sees it. */
export interface McpServerEntry {
  instanceName: string
  accountToolInstanceId: string
  /** Its names on /mcp: `<prefix>_<name>`. */
  prefix: string
  /** Its container runs and its server answered initialize and was listed. */
  ready: boolean
  /** Changes when its tools (or container) change. */
  revision: string
}

export interface McpApi {
  /** Throws not found, not an MCP server (409), or unavailable (503: its container does not run).
   *  access: what the caller's credential grants of it (its tools); the way through holds the caller to it. */
  endpoint(instanceName: string, access?: McpAccess): McpEndpoint
  /** endpoint()'s refusals alone, and the kind of way it would give: what a request on a session opened already
   *  needs (its way, with the caller's grant and the drift lock, was made when the session opened). */
  kindOf(instanceName: string): McpEndpoint['kind']
  /** What it last listed, of the tools only those `access` grants. */
  capabilities(instanceName: string, access?: McpAccess): McpCapabilities
  /** Resolves once the server answered initialize and was listed; rejects with a 504 after timeoutMs. */
  whenReady(instanceName: string, timeoutMs: number): Promise<void>
  /** Every MCP server of the toolbox (ready or not). */
  listServers(): McpServerEntry[]
  /** Called (after the change) whenever a server comes, goes, becomes ready or not, or its tools change; returns the unsubscribe. */
  onServersChange(listener: () => void): () => void
  /** The drift lock of its server: the tools pinned, each withheld tool's approved and current definition. */
  driftState(instanceName: string): McpDriftState
  /** Pins the current definitions of the tools named (all: every tool listed now); unknown: names the server does not list. */
  approve(instanceName: string, which: 'all' | readonly string[]): { approved: string[]; withheld: string[]; unknown: string[] }
  /** MCP 2026-07-28 stateless requests to multiplexed servers (the sessions' `open`), whatever revision the server speaks. */
  readonly stateless: Pick<StatelessBridge, 'handle' | 'listen'>
  readonly settings: { startTimeoutMs: number; maxSessions: number; sessionIdleMs: number; allowedOrigins: string[] }
}
