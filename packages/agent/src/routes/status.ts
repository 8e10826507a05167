// /health and /status: public, polled often, never a 500. A Docker outage
// turns /status into `degraded` with the reason instead of an error.
import type { StatusReply } from '@dtma/contract'
import type { Config } from '../config.ts'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { NetworkPolicyApi } from '../netpolicy/netpolicy-api.ts'
import { readSystemMetrics } from '../system/system-metrics.ts'
import type { Handlers } from './register.ts'
import { toolInstance } from './wire.ts'

export function statusHandlers(config: Config, instances: InstanceApi, policy: NetworkPolicyApi): Pick<Handlers, 'health' | 'ready' | 'status'> {
  return {
    health: async (_request, reply) => {
      reply.type('text/plain; charset=utf-8')
      return { status: 200, body: 'OK' }
    },

    ready: async () => {
      const reason = instances.unavailableReason()
      if (reason !== undefined) throw new DtmaError('not-ready', reason)
      return { status: 200, body: { ready: true, instances: instances.list().length } }
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
          hasApiKey: config.backendApiKey !== undefined,
          hasApiBaseUrl: config.apiBaseUrl !== undefined,
          port: String(config.port)
        }
      }
      const full = config.publicStatus === 'full' || (await request.server.hasValidBearer(request, reply))
      try {
        const views = instances.list()
        if (full) reply200.tool_instances = views.map(toolInstance)
      } catch (error) {
        reply200.status = 'degraded'
        reply200.reason = (error as Error).message
        if (full) reply200.tool_instances = []
      }
      // A toolbox that cannot enforce the tool network policy says so to everyone; what is in force, to a token.
      const networkPolicy = policy.status()
      if (networkPolicy.state === 'degraded' && reply200.status === 'healthy') {
        reply200.status = 'degraded'
        reply200.reason = `network policy: ${networkPolicy.reason ?? 'not in force'}`
      }
      if (full) reply200.network_policy = networkPolicy
      if (full) {
        const metrics = readSystemMetrics()
        reply200.system_metrics = metrics
        // Some readers take these two from the top level.
        reply200.cpu_load_percent = metrics.cpu_load_percent
        reply200.uptime_seconds = metrics.uptime_seconds
      }
      return { status: 200, body: reply200 }
    }
  }
}
