// The Fastify instance DTMA serves on, with the server settings that are not
// any one plugin's: body and request limits, HTTPS and plain HTTP on one port, the
// router's name length, the validator's strictness, and the contract's
// error body for what Node's parser and Fastify's router refuse before any
// route runs.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { clientErrorReply, frameworkErrorReply } from './plugins/app/errors.ts'
import { createOnePortServer } from './tls/one-port.ts'
import type { TlsSource } from './tls/tls-identity.ts'

/** How often Node looks for requests past their timeout (its default, 30 s,
 *  would let a slow client hold a connection that much longer). */
const CONNECTIONS_CHECK_MS = 1000
/** Fastify's default for the servers it makes. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000

export function createHttpServer(config: Config, logger: Logger, tls: TlsSource): FastifyInstance {
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
  // HTTPS and plain HTTP on the one port (tls/one-port.ts); Fastify sets the
  // server's own timeouts only on servers it makes, so they are set here.
  const fastify = Fastify({
    ...serverOptions,
    serverFactory: (handler) => {
      const server = createOnePortServer(handler, nodeServerOptions, tls)
      server.requestTimeout = config.requestTimeoutMs
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
      return server
    }
  })
  return (fastify as FastifyInstance).withTypeProvider<TypeBoxTypeProvider>()
}
