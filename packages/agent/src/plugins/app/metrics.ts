// Request metrics: count and latency of every answered request, by route id
// of the contract table (not the raw URL: instance names would make a label
// per instance) and status. Decorates the app with its Metrics registry.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from '../../metrics/metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
  interface FastifyContextConfig {
    /** The contract route id, set by registerRoutes. */
    routeId?: string
  }
}

export interface MetricsPluginOptions {
  metrics: Metrics
}

async function metricsPlugin(app: FastifyInstance, options: MetricsPluginOptions): Promise<void> {
  const { metrics } = options
  app.decorate('metrics', metrics)
  const requests = metrics.counter({ name: 'http_requests_total', help: 'Answered requests by route and status', labelNames: ['route', 'method', 'status'] as const })
  const seconds = metrics.histogram({
    name: 'http_request_duration_seconds',
    help: 'Request latency by route and status (a stream route: until it ends)',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60]
  })
  // A callback hook: no promise per request.
  app.addHook('onResponse', (request, reply, done) => {
    // Unknown URLs share one label, so URL probing cannot explode the series.
    const labels = { route: request.routeOptions.config.routeId ?? 'unmatched', method: request.method, status: String(reply.statusCode) }
    requests.inc(labels)
    seconds.observe(labels, reply.elapsedTime / 1000)
    done()
  })
}

export default fp(metricsPlugin, { name: 'dtma-metrics', fastify: '5.x' })
