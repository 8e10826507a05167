// Handlers of the routes about the agent itself: its OpenAPI document, the
// docs page made from it, and its Prometheus metrics.
import type { Metrics } from '../metrics/metrics.ts'
import { renderDocsPage, type OpenApiLike } from './docs-page.ts'
import type { Handlers } from './register.ts'

export interface MetaDeps {
  /** The document @fastify/swagger built from the registered routes. */
  openApiDocument: () => OpenApiLike & { openapi: string }
  metrics: Metrics
}

export function metaHandlers(deps: MetaDeps): Pick<Handlers, 'openApi' | 'docs' | 'metrics'> {
  return {
    openApi: async () => ({ status: 200, body: deps.openApiDocument() }),

    docs: async (_request, reply) => {
      reply.type('text/html; charset=utf-8')
      return { status: 200, body: renderDocsPage(deps.openApiDocument()) }
    },

    metrics: async (_request, reply) => {
      reply.type(deps.metrics.registry.contentType)
      return { status: 200, body: await deps.metrics.render() }
    }
  }
}
