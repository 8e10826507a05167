// What the HTTP app is built on (app.ts): the settings and the services the composition root made, each by its interface. A leaf.
import type { AuditApi } from './audit/audit-api.ts'
import type { Config } from './config.ts'
import type { FleetApi } from './fleet/fleet-api.ts'
import type { GatewayApi } from './gateway/gateway-api.ts'
import type { InstanceApi } from './instances/instance-api.ts'
import type { LogTail } from './log-tail.ts'
import type { McpApi } from './mcp/mcp-api.ts'
import type { Metrics } from './metrics/metrics.ts'
import type { NetworkPolicyApi } from './netpolicy/netpolicy-api.ts'
import type { TlsSource } from './tls/tls-identity.ts'

export interface AppOptions {
  config: Config
  instances: InstanceApi
  mcp: McpApi // each server's /tools/{name}/mcp
  gateway: GatewayApi // the aggregated /mcp
  fleet: FleetApi
  metrics: Metrics
  policy: NetworkPolicyApi
  logTail: LogTail
  audit?: AuditApi // the audit trail of MCP calls: GET /audit, `audit` events
  tls?: TlsSource // the certificate served: /status says its fingerprint
  restart?: () => void // POST /restart: exits for the supervisor to start the agent again
}
