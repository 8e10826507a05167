// The spec of an instance: what the store keeps and the domain deploys from.
// A leaf, so the store and the domain both import it and no arrow points
// from the store back up into the domain.
import type { McpSettings } from '@dtma/contract'
import type { PortBinding, ResourceLimits } from '../runtime/types.ts'
import type { Egress } from './egress.ts'

/** What the deploy keeps besides the container: never on a label, never in
 *  an answer (configuration may hold secrets). */
export interface InstanceMetadata {
  templateId?: unknown
  environment?: unknown
  configuration?: unknown
}

/** The credential the agent sends an http or sse server (the deploy's
 *  mcpAuth): like env values, kept in the store only, never on a label, in
 *  a view, a log, an event, the registry or an answer. */
export interface McpCredential {
  header: string
  value: string
}

export interface InstanceSpec {
  instanceName: string
  accountToolInstanceId: string
  image: string
  env: string[]
  /** The host ports the container is bound to (in a request: the asked
   *  ones, host_port 0 for "any port of the tool range"). */
  ports: PortBinding[]
  /** How its MCP server is reached; absent: not an MCP server. */
  mcp?: McpSettings
  /** What the agent sends an http or sse MCP server on each request of its own. */
  mcpAuth?: McpCredential
  /** Asked limits within the agent's maxima; absent: the agent's defaults. */
  limits?: ResourceLimits
  metadata?: InstanceMetadata
  /** What the container may reach (netpolicy/ enforces it); absent: `internet`. */
  egress?: Egress
  /** The earlier agent's container this instance was taken over from, until
   *  a deploy names it (its id and request hash are then the instance's). */
  takenOverFrom?: string
}
