// Registers every route of the contract table with one loop: the path, method
// and schemas exist once, in @dtma/contract. The handler map is typed from
// the same table, so a missing handler or a wrong reply shape does not compile.
// Stream routes (logs that follow, server-sent events) return a stream that is
// piped to the client until either side ends it, or the agent shuts down. A
// handler may also answer with JSON text it made once and keeps (a poll
// answered from a cache); its type still names the body it holds.
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { routes, type RouteBody, type RouteDefinition, type RouteId, type RouteParams, type RouteQuery, type RouteSuccess, type Routes } from '@dtma/contract'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Value } from 'typebox/value'

export type TypedRequest<R extends RouteDefinition> = Omit<FastifyRequest, 'params' | 'body' | 'query'> & {
  params: RouteParams<R>
  body: RouteBody<R>
  query: RouteQuery<R>
}

/** A stream route's success: the agent writes it as it goes; destroying it
 *  (the client went away) must release whatever feeds it. */
export interface StreamSuccess {
  status: 200
  stream: Readable
}

/** A raw route's answer: the handler hijacked the reply and answered on it
 *  itself (the MCP endpoint, whose transport writes JSON or SSE as MCP says). */
export interface RawAnswer {
  raw: true
}

declare const jsonOf: unique symbol
/** JSON text of a T, made by jsonText: sent as it is, checked as a T at compile time. */
export type JsonText<T> = string & { readonly [jsonOf]: T }

export function jsonText<T>(value: T): JsonText<T> {
  return JSON.stringify(value) as JsonText<T>
}

/** A success whose body is already JSON text. */
type SerializedSuccess<S> = S extends { status: infer Status; body: infer Body } ? { status: Status; json: JsonText<Body> } : never

type HandlerResult<R extends RouteDefinition> = R extends { readonly raw: true }
  ? RawAnswer
  : R extends { readonly stream: true }
  ? StreamSuccess
  : R extends { readonly stream: 'follow' }
    ? RouteSuccess<R> | StreamSuccess
    : RouteSuccess<R> | SerializedSuccess<RouteSuccess<R>>

export type Handler<K extends RouteId> = (request: TypedRequest<Routes[K]>, reply: FastifyReply) => Promise<HandlerResult<Routes[K]>>
export type Handlers = { [K in RouteId]: Handler<K> }

export function registerRoutes(app: FastifyInstance, handlers: Handlers): void {
  // A stream never ends by itself: without this, a connected event client
  // would hold the shutdown until its budget ran out.
  const openStreams = new Set<Readable>()
  app.addShutdownStep('drain', 'end open streams', () => {
    for (const stream of openStreams) stream.destroy()
  })
  for (const id of Object.keys(routes) as RouteId[]) {
    const route: RouteDefinition = routes[id]
    const handler = handlers[id] as (request: FastifyRequest, reply: FastifyReply) => Promise<{ status: number; body?: unknown; json?: string; stream?: Readable; raw?: true }>
    const querystring = route.querystring
    app.route({
      method: route.method,
      url: route.path,
      logLevel: route.quiet ? 'warn' : undefined,
      schema: {
        ...(route.params && { params: route.params }),
        ...(route.querystring && { querystring: route.querystring }),
        ...(route.body && { body: route.body }),
        response: responseSchemas(route),
        summary: route.summary,
        ...(route.auth === 'bearer' ? { security: [{ bearerAuth: [] }] } : {})
      },
      config: { routeId: id },
      onRequest: route.auth === 'bearer' ? app.requireBearer : undefined,
      preValidation:
        querystring || route.body
          ? (request, _reply, done) => {
              // Query values arrive as text and the validator does not coerce (it
              // refuses "42" for a number in bodies): convert them by their schema.
              if (querystring) request.query = Value.Convert(querystring, request.query)
              // No body at all is judged as an empty one, so the 400 names the missing fields.
              if (route.body && request.body === undefined) request.body = {}
              done()
            }
          : undefined,
      handler: async (request, reply) => {
        const result = await handler(request, reply)
        if (result.raw === true) return reply
        if (result.stream !== undefined) {
          const stream = result.stream
          openStreams.add(stream)
          stream.once('close', () => openStreams.delete(stream))
          return sendStream(reply, result.status, route.produces ?? 'application/octet-stream', stream)
        }
        if (result.json !== undefined) return reply.code(result.status).type('application/json; charset=utf-8').send(result.json)
        return reply.code(result.status).send(result.body)
      }
    })
  }
}

/** Errors are always JSON; a success of a route that produces another type
 *  is declared under that type (a 'follow' route: JSON, or the stream when
 *  asked), so the OpenAPI document says so. */
function responseSchemas(route: RouteDefinition): Record<number, unknown> {
  const produces = route.produces
  if (produces === undefined) return route.responses
  const success = (schema: unknown) =>
    route.stream === 'follow' ? { content: { 'application/json': { schema }, [produces]: { schema: route.streamReply } } } : { content: { [produces]: { schema } } }
  return Object.fromEntries(Object.entries(route.responses).map(([status, schema]) => [status, status.startsWith('2') ? success(schema) : schema]))
}

/** Headers go out at once (a client waiting on a quiet stream must see the
 *  answer start); the stream is destroyed when the client goes away. */
function sendStream(reply: FastifyReply, status: number, contentType: string, stream: Readable): void {
  reply.hijack()
  reply.raw.writeHead(status, {
    'content-type': `${contentType}; charset=utf-8`,
    'cache-control': 'no-cache',
    // Tells a reverse proxy (nginx) not to buffer the stream.
    'x-accel-buffering': 'no'
  })
  reply.raw.flushHeaders()
  pipeline(stream, reply.raw).catch((error: Error) => {
    if (error.name !== 'AbortError' && (error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') reply.log.warn({ err: error }, 'stream ended with an error')
  })
}
