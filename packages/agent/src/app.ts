// DTMA's HTTP app as a Fastify plugin (fastify/demo style): plugins, then the contract's routes; no Docker type, no service built here.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { AppOptions } from './app-options.ts'
import authPlugin from './plugins/app/auth.ts'
import errorsPlugin from './plugins/app/errors.ts'
import jsonBodyPlugin from './plugins/app/json-body.ts'
import metricsPlugin from './plugins/app/metrics.ts'
import shutdownPlugin from './plugins/app/shutdown.ts'
import transportGatePlugin from './plugins/app/transport-gate.ts'
import swaggerPlugin from './plugins/external/swagger.ts'
import { agentHandlers } from './routes/agent.ts'
import { fleetHandlers } from './routes/fleet.ts'
import type { OpenApiLike } from './routes/docs-page.ts'
import { gatewayHandlers } from './routes/gateway.ts'
import { mcpHandlers } from './routes/mcp.ts'
import { metaHandlers } from './routes/meta.ts'
import { registerRoutes } from './routes/register.ts'
import { statusHandlers } from './routes/status.ts'
import { streamHandlers } from './routes/streams.ts'
import { toolHandlers } from './routes/tools.ts'
async function dtmaApp(app: FastifyInstance, options: AppOptions): Promise<void> {
  const { config, instances, mcp, gateway, fleet, metrics, policy, logTail, tls, audit } = options
  await app.register(swaggerPlugin, { version: config.version })
  await app.register(errorsPlugin)
  await app.register(jsonBodyPlugin)
  await app.register(shutdownPlugin, { timeoutMs: config.shutdownTimeoutMs })
  await app.register(authPlugin, { config, instances, metrics })
  await app.register(transportGatePlugin)
  await app.register(metricsPlugin, { metrics })
  registerRoutes(app, {
    ...statusHandlers(config, instances, policy, tls),
    ...toolHandlers(instances, mcp, policy),
    ...mcpHandlers(mcp, instances, app, config.tokens.jwks), ...gatewayHandlers(gateway, mcp.settings.allowedOrigins),
    ...streamHandlers(instances, fleet, { maxClients: config.eventsMaxClients }, audit),
    ...fleetHandlers(fleet, instances),
    ...agentHandlers({ config, instances, logTail, ...(options.restart !== undefined && { restart: options.restart }) }),
    ...metaHandlers({ openApiDocument: () => app.swagger() as unknown as OpenApiLike & { openapi: string }, metrics })
  })
}
export default fp(dtmaApp, { name: 'dtma-app', fastify: '5.x' })
