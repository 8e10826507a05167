// MCP metrics: ping latency, MCP servers by status, restarts of unresponsive
// servers, and the bridge (open sessions, messages each way, what servers
// wrote that was dropped). The MCP side is told through its observer
// interfaces and knows nothing of how they are counted.
import type { McpStatus } from '@dtma/contract'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { DriftObserver } from '../mcp/drift-lock.ts'
import type { McpObserver } from '../mcp/instance-mcp.ts'
import type { RestartObserver } from '../mcp/self-heal.ts'
import type { Metrics } from './metrics.ts'

const STATUSES: McpStatus[] = ['starting', 'ready', 'degraded', 'unresponsive', 'stopped']

export function mcpMetrics(metrics: Metrics, sources: { instances: InstanceApi; sessionCount: () => number }): McpObserver & RestartObserver & DriftObserver {
  const pings = metrics.histogram({
    name: 'mcp_ping_seconds',
    help: 'Round trip of the MCP ping the agent sends every server, by outcome',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
  })
  const restarts = metrics.counter({ name: 'mcp_restarts_total', help: 'Restarts of containers whose MCP server stopped answering, by outcome', labelNames: ['outcome'] as const })
  const messages = metrics.counter({ name: 'mcp_bridge_messages_total', help: 'JSON-RPC messages through the multiplexed MCP bridge, by direction', labelNames: ['direction'] as const })
  const dropped = metrics.counter({ name: 'mcp_dropped_total', help: 'What MCP servers wrote that was dropped (too long a line, not JSON, not JSON-RPC)', labelNames: ['reason'] as const })
  metrics.gauge({
    name: 'mcp_servers',
    help: 'MCP servers by MCP status',
    labelNames: ['status'] as const,
    collect() {
      const counts = new Map<string, number>(STATUSES.map((status) => [status, 0]))
      for (const { view } of sources.instances.snapshot()) {
        const status = view?.mcp?.health.status
        if (status !== undefined) counts.set(status, (counts.get(status) ?? 0) + 1)
      }
      for (const [status, count] of counts) this.set({ status }, count)
    }
  })
  const drifts = metrics.counter({ name: 'mcp_drift_detections_total', help: 'Tools whose definition differed from the approved one (changed, new or removed), by instance', labelNames: ['instance'] as const })
  metrics.gauge({
    name: 'mcp_tools_withheld',
    help: 'Tools the drift lock withholds from callers until approved, by instance',
    labelNames: ['instance'] as const,
    collect() {
      this.reset()
      for (const { instanceName, view } of sources.instances.snapshot()) {
        if (view?.mcp != null) this.set({ instance: instanceName }, view.mcp.health.withheld.length)
      }
    }
  })
  metrics.gauge({
    name: 'mcp_bridge_sessions',
    help: 'Open MCP sessions of multiplexed (stdio, sse) servers',
    collect() {
      this.set(sources.sessionCount())
    }
  })
  return {
    pinged: (seconds, outcome) => pings.observe({ outcome }, seconds),
    restarted: (outcome) => restarts.inc({ outcome }),
    message: (direction) => messages.inc({ direction }),
    dropped: (reason) => dropped.inc({ reason }),
    drifted: (instanceName, tools) => drifts.inc({ instance: instanceName }, tools.length)
  }
}
