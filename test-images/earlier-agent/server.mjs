// The earlier agent's answers that an upgrade relies on: /health and /status.
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 30000)
const server = createServer((request, response) => {
  if (request.url === '/health') return response.writeHead(200, { 'content-type': 'text/plain' }).end('OK')
  if (request.url === '/status') {
    const body = { status: 'healthy', service: 'DTMA', version: '0.0.1-earlier', timestamp: new Date().toISOString(), tool_instances: [] }
    return response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  }
  response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
})
server.listen(port, '0.0.0.0')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
