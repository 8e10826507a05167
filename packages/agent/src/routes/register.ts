// Registers every route of the contract table with one loop: the path, method
// and schemas exist once, in @dtma/contract. The handler map is typed from
// the same table, so a missing handler or a wrong reply shape does not compile.
import { routes, type RouteBody, type RouteDefinition, type RouteId, type RouteParams, type RouteQuery, type RouteSuccess, type Routes } from '@dtma/contract'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export type TypedRequest<R extends RouteDefinition> = Omit<FastifyRequest, 'params' | 'body' | 'query'> & {
  params: RouteParams<R>
  body: RouteBody<R>
  query: RouteQuery<R>
}

export type Handler<K extends RouteId> = (request: TypedRequest<Routes[K]>, reply: FastifyReply) => Promise<RouteSuccess<Routes[K]>>
export type Handlers = { [K in RouteId]: Handler<K> }

export function registerRoutes(app: FastifyInstance, handlers: Handlers): void {
  for (const id of Object.keys(routes) as RouteId[]) {
    const route: RouteDefinition = routes[id]
    const handler = handlers[id] as (request: FastifyRequest, reply: FastifyReply) => Promise<{ status: number; body: unknown }>
    app.route({
      method: route.method,
      url: route.path,
      logLevel: route.quiet ? 'warn' : undefined,
      schema: {
        ...(route.params && { params: route.params }),
        ...(route.querystring && { querystring: route.querystring }),
        ...(route.body && { body: route.body }),
        response: route.responses,
        summary: route.summary,
        ...(route.auth === 'bearer' ? { security: [{ bearerAuth: [] }] } : {})
      },
      config: { routeId: id },
      onRequest: route.auth === 'bearer' ? app.requireBearer : undefined,
      handler: async (request, reply) => {
        const result = await handler(request, reply)
        return reply.code(result.status).send(result.body)
      }
    })
  }
}
