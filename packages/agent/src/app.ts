// buildApp(deps) is DTMA's HTTP application: external plugins, our plugins,
// then the routes of the contract table. server.ts runs it; tests build the
// same app with a real Docker runtime and a temporary data dir.
import { readFileSync } from 'node:fs'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import type { LogTail } from './log-tail.ts'
import { heartbeatFromConfig } from './heartbeat/heartbeat.ts'
import { InstanceService } from './instances/instance-service.ts'
import { instanceStatusMetrics, reconcileMetrics } from './metrics/instance-metrics.ts'
import { instrumentRuntime } from './metrics/instrumented-runtime.ts'
import { Metrics } from './metrics/metrics.ts'
import authPlugin from './plugins/auth.ts'
import errorsPlugin, { clientErrorReply, frameworkErrorReply } from './plugins/errors.ts'
import metricsPlugin from './plugins/metrics.ts'
import shutdownPlugin from './plugins/shutdown.ts'
import swaggerPlugin from './plugins/swagger.ts'
import { registryFromConfig } from './registry/registry-sync.ts'
import { agentHandlers } from './routes/agent.ts'
import type { OpenApiLike } from './routes/docs-page.ts'
import { metaHandlers } from './routes/meta.ts'
import { registerRoutes } from './routes/register.ts'
import { statusHandlers } from './routes/status.ts'
import { streamHandlers } from './routes/streams.ts'
import { toolHandlers } from './routes/tools.ts'
import type { ContainerRuntime } from './runtime/docker-runtime.ts'
import type { InstanceStore } from './store/instance-store.ts'

export interface AppDeps {
  config: Config
  runtime: ContainerRuntime
  store: InstanceStore
  logger: Logger
  /** The lines `logger` wrote, for GET /logs. */
  logTail: LogTail
  /** The metrics registry; made here when the caller has none. Modules built
   *  outside buildApp (registry outbox, heartbeat) register theirs on it. */
  metrics?: Metrics
  /** POST /restart: exits for the supervisor to start the agent again. */
  restart?: () => void
}

declare module 'fastify' {
  interface FastifyInstance {
    instances: InstanceService
  }
}

/** How often Node looks for requests past their timeout (its default, 30 s,
 *  would let a slow client hold a connection that much longer). */
const CONNECTIONS_CHECK_MS = 1000

function readTls(tls: NonNullable<Config['tls']>): { cert: Buffer; key: Buffer } {
  const read = (setting: string, path: string) => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw new Error(`cannot read ${setting} ${path}: ${(error as Error).message}`)
    }
  }
  return { cert: read('DTMA_TLS_CERT', tls.certFile), key: read('DTMA_TLS_KEY', tls.keyFile) }
}

/** Agentopia's callers send `Content-Type: application/json` on every
 *  request, also on start, stop and delete, which carry no body: an empty
 *  JSON body is no body (Fastify's own parser answers 400). Anything else is
 *  parsed by Fastify's parser, with its prototype-poisoning checks. */
function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((body as string).trim() === '') return done(null, undefined)
    parseJson(request, body as string, done)
  })
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, store, logger } = deps
  const metrics = deps.metrics ?? new Metrics()
  const runtime = instrumentRuntime(deps.runtime, metrics)
  const serverOptions = {
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    requestTimeout: config.requestTimeoutMs,
    // The shutdown plugin answers the contract's 503 body instead.
    return503OnClosing: false,
    clientErrorHandler: clientErrorReply,
    frameworkErrors: frameworkErrorReply,
    // An instance name may be 128 characters, each up to 4 UTF-8 bytes
    // percent-encoded (12 characters) in the path.
    routerOptions: { maxParamLength: 128 * 12 },
    ajv: {
      // Fastify's defaults would silently drop unknown fields where a schema
      // forbids them and turn 42 into "42"; DTMA refuses both with a 400
      // that names the field.
      customOptions: { removeAdditional: false, coerceTypes: false }
    }
  }
  const nodeServerOptions = {
    connectionsCheckingInterval: CONNECTIONS_CHECK_MS,
    headersTimeout: config.requestTimeoutMs,
    // Node would answer a missing Host with an empty 400 of its own; DTMA
    // does not read Host, so such a request is served like any other.
    requireHostHeader: false
  }
  const fastify = (
    config.tls === undefined
      ? Fastify({ ...serverOptions, http: nodeServerOptions })
      : Fastify({ ...serverOptions, https: { ...nodeServerOptions, ...readTls(config.tls) } })
  ) as FastifyInstance
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  const instances = new InstanceService({
    runtime,
    store,
    logger,
    agentPort: config.port,
    toolHostIp: config.tool.hostIp,
    toolPorts: config.toolPorts,
    toolLimits: config.tool,
    stopTimeoutSeconds: config.tool.stopTimeoutSeconds,
    selfHeal: config.selfHeal,
    resyncIntervalMs: config.resyncIntervalMs,
    observer: reconcileMetrics(metrics)
  })
  app.decorate('instances', instances)
  instanceStatusMetrics(metrics, instances)

  acceptEmptyJsonBodies(app)
  await app.register(errorsPlugin)
  await app.register(shutdownPlugin, { timeoutMs: config.shutdownTimeoutMs })
  await app.register(authPlugin, { tokens: config.apiTokens, failures: config.authFailures })
  await app.register(metricsPlugin, { metrics })
  await app.register(swaggerPlugin, { version: config.version })

  registerRoutes(app, {
    ...statusHandlers(config, instances),
    ...toolHandlers(instances),
    ...streamHandlers(instances),
    ...agentHandlers({ config, instances, logTail: deps.logTail, ...(deps.restart !== undefined && { restart: deps.restart }) }),
    ...metaHandlers({ openApiDocument: () => app.swagger() as unknown as OpenApiLike & { openapi: string }, metrics })
  })

  // Docker is followed from the moment the app is ready until it closes;
  // operations in flight at a shutdown finish first (bounded).
  app.addHook('onReady', async () => instances.connect())
  app.addShutdownStep('drain', 'instance operations and Docker events', () => instances.shutdown())

  // The registry mirror and the heartbeat report only what the first
  // reconcile confirmed; the outbox is flushed (bounded) before the store closes.
  const registry = registryFromConfig({ config, store, instances, logger, metrics })
  const heartbeat = heartbeatFromConfig({ config, instances, logger, metrics })
  app.addHook('onReady', async () => {
    registry?.start()
    heartbeat?.start()
  })
  app.addShutdownStep('drain', 'heartbeat', () => heartbeat?.close())
  app.addShutdownStep('flush', 'registry outbox', () => registry?.close())
  return app
}
