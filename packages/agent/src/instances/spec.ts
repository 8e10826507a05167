// The hash of an instance's normalized spec. Two deploy requests with
// the same normalized spec are the same deploy (idempotency); a different
// spec under an existing name is a conflict.
import { createHash } from 'node:crypto'
import type { InstanceSpec } from '../model/instance-spec.ts'

/** sha256 over the spec with a fixed key order. Env values (and the MCP
 *  credential) are part of it, so the hash is one-way only: it goes on a
 *  label, the values never do. The
 *  MCP settings and limits are added only when set, so instances deployed
 *  before they existed keep their hash. Metadata does not change the
 *  container and is left out. */
export function specHash(spec: InstanceSpec): string {
  const canonical: unknown[] = [spec.instanceName, spec.accountToolInstanceId, spec.image, spec.env, spec.ports.map((p) => [p.container_port, p.protocol, p.host_ip, p.host_port])]
  if (spec.mcp !== undefined) canonical.push(['mcp', spec.mcp.transport, spec.mcp.endpoint, spec.mcp.port, spec.mcp.capabilities])
  if (spec.mcp?.host !== undefined) canonical.push(['mcpHost', spec.mcp.host])
  if (spec.mcp?.drift !== undefined) canonical.push(['mcpDrift', spec.mcp.drift])
  if (spec.mcpAuth !== undefined) canonical.push(['mcpAuth', spec.mcpAuth.header, spec.mcpAuth.value])
  if (spec.limits !== undefined) canonical.push(['limits', spec.limits.memoryBytes, spec.limits.nanoCpus, spec.limits.pidsLimit])
  if (spec.egress !== undefined && spec.egress !== 'internet') canonical.push(['egress', spec.egress])
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex')
}

/** Environment keys without their values: safe for logs and the registry. */
export function envKeys(env: readonly string[]): string[] {
  return env.map((entry) => entry.slice(0, Math.max(0, entry.indexOf('='))))
}

/** An instance that reaches nothing and is reached by nobody over the
 *  network (egress none, no published port, no http or sse server to proxy
 *  to) gets no network at all: nothing to enforce, no window at its start. */
export function networkless(spec: Pick<InstanceSpec, 'ports' | 'mcp' | 'egress'>): boolean {
  return spec.egress === 'none' && spec.ports.length === 0 && (spec.mcp === undefined || spec.mcp.transport === 'stdio')
}
