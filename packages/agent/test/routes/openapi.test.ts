// Contract test (c): the OpenAPI document the agent serves is the contract
// table: the same paths and methods, summaries, auth, parameters, body and
// response schemas per status, and nothing else. The docs page lists them.
import { OpenApiReply, routes, type RouteDefinition } from '@dtma/contract'
import t from 'tap'
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { startTestAgent } from '../helpers/agent.ts'

interface Operation {
  summary?: string
  security?: Array<Record<string, unknown>>
  parameters?: Array<{ name: string; in: string; required?: boolean; description?: string; schema: unknown }>
  requestBody?: { content: Record<string, { schema: unknown }> }
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, { type: string; scheme: string }> }
}

/** A table schema as the document spells it. @fastify/swagger writes a
 *  record's `patternProperties` as `additionalProperties` (its value schema;
 *  the key pattern is lost in the document, not in the agent's validation);
 *  nothing else may differ. */
function json(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema), (_key, value: unknown) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !('patternProperties' in value)) return value
    const { patternProperties, ...rest } = value as { patternProperties: Record<string, unknown> }
    return { ...rest, additionalProperties: Object.values(patternProperties)[0] }
  })
}
const openApiPath = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

/** The parameters of one part (path or query) as OpenAPI lists them: a
 *  property's description belongs to the parameter, not to its schema. */
function parametersOf(schema: TSchema | undefined, where: 'path' | 'query'): Array<{ name: string; in: string; required: boolean; description?: string; schema: unknown }> {
  const object = schema as { properties?: Record<string, { description?: string }>; required?: string[] } | undefined
  return Object.entries(object?.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property
    const required = where === 'path' || (object?.required ?? []).includes(name)
    return { name, in: where, required, ...(description !== undefined && { description }), schema: json(rest) }
  })
}

t.test('the served OpenAPI document is the contract table', async (t) => {
  const agent = await startTestAgent(t)
  const reply = await fetch(`${agent.baseUrl}/openapi.json`)
  t.equal(reply.status, 200, 'public: no token needed')
  const document = (await reply.json()) as Document
  t.ok(Value.Check(OpenApiReply, document), 'the reply matches its own schema')
  t.match(document.openapi, /^3\./)
  t.match(document.components.securitySchemes.bearerAuth, { type: 'http', scheme: 'bearer' })

  const declared = Object.values(routes).map((route) => `${route.method.toLowerCase()} ${openApiPath(route.path)}`).sort()
  const documented = Object.entries(document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`)).sort()
  t.same(documented, declared, 'the same routes, no more and no fewer')

  for (const [id, definition] of Object.entries(routes)) {
    const route: RouteDefinition = definition
    const operation = document.paths[openApiPath(route.path)]?.[route.method.toLowerCase()]
    if (operation === undefined) {
      t.fail(`${id} is missing`)
      continue
    }
    t.equal(operation.summary, route.summary, `${id}: summary`)
    t.same(operation.security ?? [], route.auth === 'bearer' ? [{ bearerAuth: [] }] : [], `${id}: auth ${route.auth}`)
    const parameters = (operation.parameters ?? []).map(({ name, in: where, required, description, schema }) => ({
      name,
      in: where,
      required: required ?? false,
      ...(description !== undefined && { description }),
      schema
    }))
    const byName = (a: { in: string; name: string }, b: { in: string; name: string }) => `${a.in} ${a.name}`.localeCompare(`${b.in} ${b.name}`)
    t.same(parameters.sort(byName), [...parametersOf(route.params, 'path'), ...parametersOf(route.querystring, 'query')].sort(byName), `${id}: parameters`)
    t.same(operation.requestBody?.content['application/json']?.schema, route.body && json(route.body), `${id}: body schema`)
    t.same(Object.keys(operation.responses).sort(), Object.keys(route.responses).sort(), `${id}: statuses`)
    for (const [status, schema] of Object.entries(route.responses)) {
      // Errors are JSON; a success is JSON unless the route produces another
      // type, and a 'follow' route's success is both: JSON, or the stream.
      const streamsWhenAsked = status.startsWith('2') && route.stream === 'follow'
      const type = status.startsWith('2') && route.produces !== undefined && !streamsWhenAsked ? route.produces : 'application/json'
      t.same(operation.responses[status]?.content?.[type]?.schema, json(schema), `${id} ${status}: ${type} schema`)
      if (streamsWhenAsked) t.same(operation.responses[status]?.content?.[route.produces as string]?.schema, json(route.streamReply), `${id} ${status}: streamed ${route.produces} schema`)
    }
  }
})

t.test('the docs page lists every route', async (t) => {
  const agent = await startTestAgent(t)
  const reply = await fetch(`${agent.baseUrl}/docs`)
  t.equal(reply.status, 200)
  t.match(reply.headers.get('content-type'), /^text\/html/)
  const page = await reply.text()
  for (const route of Object.values(routes)) t.ok(page.includes(`<code>${openApiPath(route.path)}</code>`), `${route.method} ${route.path}`)
  t.notMatch(page, /<script/i, 'self-contained: no scripts to fetch')
})
