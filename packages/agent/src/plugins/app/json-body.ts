// Agentopia's callers send `Content-Type: application/json` on every
// request, also on start, stop and delete, which carry no body: an empty
// JSON body is no body (Fastify's own parser answers 400). Anything else is
// parsed by Fastify's parser, with its prototype-poisoning checks.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

async function jsonBodyPlugin(app: FastifyInstance): Promise<void> {
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if ((body as string).trim() === '') return done(null, undefined)
    parseJson(request, body as string, done)
  })
}

export default fp(jsonBodyPlugin, { name: 'dtma-json-body', fastify: '5.x' })
