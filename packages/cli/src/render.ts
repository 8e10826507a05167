// Text for people: aligned tables and key/value blocks. Scripts use --json,
// so nothing here is a format anyone should parse.
import type { LegacyCandidate, PortMapping, StatusReply, ToolInstance } from '@dtma/contract'

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

export function formatPorts(ports: PortMapping[]): string {
  return ports.map((port) => `${port.host_ip}:${port.host_port}->${port.container_port}/${port.protocol}`).join(', ')
}

/** "3m", "2h", "5d": how long ago a unix-seconds time was. */
export function age(unixSeconds: number, now = Date.now()): string {
  const seconds = Math.max(0, Math.round(now / 1000 - unixSeconds))
  if (seconds < 60) return `${seconds}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`
  return `${Math.floor(seconds / 86400)}d`
}

/** internet, none, or allow(N) in a table; the entries in full in a detail. */
function formatEgress(egress: ToolInstance['egress'] | undefined, full = false): string {
  if (egress === undefined) return '-'
  if (typeof egress === 'string') return egress
  return full ? `allow ${egress.allow.join(', ') || '(nothing)'}` : `allow(${egress.allow.length})`
}

export function instanceTable(instances: ToolInstance[]): string {
  if (instances.length === 0) return 'no managed instances\n'
  const sorted = [...instances].sort((a, b) => a.instance_name_on_toolbox.localeCompare(b.instance_name_on_toolbox))
  return table(
    ['NAME', 'STATUS', 'DOCKER', 'MCP', 'IMAGE', 'PORTS', 'EGRESS', 'AGE', 'CONTAINER'],
    sorted.map((instance) => [
      instance.instance_name_on_toolbox,
      instance.status,
      instance.docker_status,
      instance.mcp === null ? '-' : `${instance.mcp.status}${instance.mcp.tools_count === null ? '' : ` (${instance.mcp.tools_count} tools)`}`,
      instance.image,
      formatPorts(instance.ports),
      formatEgress(instance.egress),
      age(instance.created),
      instance.container_id.slice(0, 12)
    ])
  )
}

export function legacyTable(candidates: LegacyCandidate[]): string {
  if (candidates.length === 0) return "no containers of an earlier agent\n"
  return table(
    ['CONTAINER', 'INSTANCE', 'ID', 'IMAGE', 'PORTS', 'DOCKER', 'AGE', 'TAKEN', 'WHY'],
    candidates.map((candidate) => [
      candidate.container_name,
      candidate.instance_name,
      candidate.account_tool_instance_id ?? '-',
      candidate.image,
      formatPorts(candidate.ports),
      candidate.docker_status,
      age(candidate.created),
      candidate.eligible ? 'when named' : 'never',
      candidate.why_not ?? candidate.reasons.join(',')
    ])
  )
}

function keyValues(pairs: Array<[string, string]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length))
  return pairs.map(([key, value]) => `${(key + ':').padEnd(width + 1)} ${value}`).join('\n') + '\n'
}

export function instanceDetail(instance: ToolInstance): string {
  return keyValues([
    ['name', instance.instance_name_on_toolbox],
    ['status', instance.status],
    ['desired', instance.desired_state],
    ['docker', instance.docker_status],
    ['health', instance.health],
    ['image', instance.image],
    ['ports', formatPorts(instance.ports) || '-'],
    ['egress', formatEgress(instance.egress, true)],
    ['mcp', instance.mcp === null ? '-' : `${instance.mcp.transport}, ${instance.mcp.status}${instance.mcp.last_error === null ? '' : ` (${instance.mcp.last_error})`}`],
    ...(instance.mcp === null ? [] : ([['mcp endpoint', instance.mcp.url_path], ['mcp tools', instance.mcp.tools_count === null ? '-' : String(instance.mcp.tools_count)]] as Array<[string, string]>)),
    ['container', `${instance.container_name} (${instance.container_id.slice(0, 12)})`],
    ['account tool instance', instance.account_tool_instance_id],
    ['created', new Date(instance.created * 1000).toISOString()]
  ])
}

export function agentDetail(status: StatusReply): string {
  const instances = status.tool_instances
  return keyValues([
    ['status', status.reason === undefined ? status.status : `${status.status} (${status.reason})`],
    ['version', `${status.dtma_version} (commit ${status.commit})`],
    ['time', status.timestamp],
    ...(status.network_policy === undefined ? [] : ([['network policy', `${status.network_policy.state}${status.network_policy.reason === undefined ? '' : ` (${status.network_policy.reason})`}`]] as Array<[string, string]>)),
    ['instances', instances === undefined ? 'hidden (minimal public status)' : String(instances.length)],
    ['running', instances === undefined ? '-' : String(instances.filter((instance) => instance.status === 'running').length)]
  ])
}
