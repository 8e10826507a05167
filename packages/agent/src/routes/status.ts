// /health and /status: public, polled often, never a 500. A Docker outage
// turns /status into `degraded` with the reason instead of an error. Without
// a valid token (DTMA_PUBLIC_STATUS=minimal, the default) they say nothing
// about the tools: no names, images, ports or env names, not even a count.
import type { StatusReply } from '@dtma/contract'
import type { Config } from '../config.ts'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { NetworkPolicyApi } from '../netpolicy/netpolicy-api.ts'
import { readSystemMetrics } from '../system/system-metrics.ts'
import type { TlsSource } from '../tls/tls-identity.ts'
import type { Handlers } from './register.ts'
import { visibleViews } from './narrow.ts'
import { toolInstance } from './wire.ts'

export function statusHandlers(config: Config, instances: InstanceApi, policy: NetworkPolicyApi, tls?: TlsSource): Pick<Handlers, 'health' | 'ready' | 'status'> {
  return {
    health: async (_request, reply) => {
      reply.type('text/plain; charset=utf-8')
      return { status: 200, body: 'OK' }
    },

    ready: async (request, reply) => {
      const reason = instances.unavailableReason()
      if (reason !== undefined) throw new DtmaError('not-ready', reason)
      const full = config.publicStatus === 'full' || (await request.server.grantWith(request, 'tools:read')) !== undefined
      return { status: 200, body: full ? { ready: true, instances: instances.list().length } : { ready: true } }
    },

    status: async (request, reply) => {
      const reply200: StatusReply = {
        status: 'healthy',
        service: 'DTMA',
        version: config.version,
        dtma_version: config.version,
        commit: config.commit,
        timestamp: new Date().toISOString(),
        environment: {
          hasAuthToken: config.vmToken !== undefined,
          hasApiKey: config.backendApiKey !== undefined || config.fleetKeyHashes.length > 0,
          hasApiBaseUrl: config.apiBaseUrl !== undefined,
          port: String(config.port)
        }
      }
      const full = config.publicStatus === 'full' || (await request.server.grantWith(request, 'tools:read')) !== undefined
      // Without a valid token (DTMA_PUBLIC_STATUS=minimal) nothing about the
      // tools: an empty list (readers map over it), and a word that it is hidden.
      reply200.tool_instances = []
      if (!full) reply200.tool_instances_hidden = true
      try {
        const views = instances.list()
        if (full) reply200.tool_instances = visibleViews(request, views).map(toolInstance)
      } catch (error) {
        reply200.status = 'degraded'
        reply200.reason = (error as Error).message
      }
      // A toolbox that cannot enforce the tool network policy says so to everyone; what is in force, to a token.
      const networkPolicy = policy.status()
      if (networkPolicy.state === 'degraded' && reply200.status === 'healthy') {
        reply200.status = 'degraded'
        reply200.reason = `network policy: ${networkPolicy.reason ?? 'not in force'}`
      }
      if (full) reply200.network_policy = networkPolicy
      if (full && tls !== undefined) reply200.tls_fingerprint_sha256 = tls.current().fingerprint
      // The machine's numbers are liveness: the console reads them with or without a token.
      const metrics = readSystemMetrics()
      reply200.system_metrics = metrics
      // Some readers take these two from the top level.
      reply200.cpu_load_percent = metrics.cpu_load_percent
      reply200.uptime_seconds = metrics.uptime_seconds
      return { status: 200, body: reply200 }
    }
  }
}
