// What the HTTP app needs of the MCP side: the way to an instance's server
// (sessions of a multiplexed one, or the address of an http one's own
// endpoint), what it last listed, and a wait for its readiness. The app is
// built on this interface, like InstanceApi.
import type { McpCapabilities } from '@dtma/contract'
import type { ProxiedAnswer, ProxiedRequest } from './http-proxy.ts'
import type { SessionPipe } from './mux-session.ts'
import type { StatelessBridge } from './stateless-bridge.ts'
import type { McpAccess } from './tool-grant.ts'

export type { McpAccess, ProxiedAnswer, ProxiedRequest }
export type { StatelessAnswer } from './stateless-bridge.ts'
/** The two eras on one endpoint (era.ts): what tells a 2026-07-28 stateless request, and its checks. */
export { checkNames, checkStateless, EraRefusal, isStateless, type EraMessage } from './era.ts'

export type McpEndpoint =
  | { kind: 'sessions'; open(): SessionPipe }
  /** Relays one request to the server's own endpoint; throws DTMA's error for its refusals. */
  | {
      kind: 'proxy'
      forward(request: ProxiedRequest): Promise<ProxiedAnswer>
      /** A 2026-07-28 caller's pipe when the server speaks only the session era (the agent translates); undefined: relay to it. */
      stateless(): Promise<(() => SessionPipe) | undefined>
    }

export interface McpApi {
  /** Throws not found, not an MCP server (409), or unavailable (503: its container does not run).
   *  access: what the caller's credential grants of it (its tools); the way through holds the caller to it. */
  endpoint(instanceName: string, access?: McpAccess): McpEndpoint
  /** What it last listed, of the tools only those `access` grants. */
  capabilities(instanceName: string, access?: McpAccess): McpCapabilities
  /** Resolves once the server answered initialize and was listed; rejects with a 504 after timeoutMs. */
  whenReady(instanceName: string, timeoutMs: number): Promise<void>
  /** MCP 2026-07-28 stateless requests to multiplexed servers (the sessions' `open`), whatever revision the server speaks. */
  readonly stateless: Pick<StatelessBridge, 'handle' | 'listen'>
  readonly settings: { startTimeoutMs: number; maxSessions: number; sessionIdleMs: number; allowedOrigins: string[] }
}
