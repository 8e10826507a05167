// The OpenAPI document, built by @fastify/swagger from the routes as Fastify
// registered them (so from the contract table, through the same loop): every
// path, schema and status, and a bearer security scheme on `bearer` routes.
// Registered before the routes: it collects them as they are added.
import swagger from '@fastify/swagger'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface SwaggerPluginOptions {
  version: string
}

async function swaggerPlugin(app: FastifyInstance, options: SwaggerPluginOptions): Promise<void> {
  await app.register(swagger, {
    // 3.1 schemas are JSON Schema, so the contract's `const` stays as written.
    convertConstToEnum: false,
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'DTMA, the Droplet Tool Management Agent',
        description: 'Deploys MCP servers as Docker containers for Agentopia. Errors are JSON { success: false, error, code }.',
        version: options.version
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'BACKEND_TO_DTMA_API_KEY or the VM token DTMA_BEARER_TOKEN' }
        }
      }
    }
  })
}

export default fp(swaggerPlugin, { name: 'dtma-swagger', fastify: '5.x' })
