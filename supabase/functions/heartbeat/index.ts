// Entry of the heartbeat edge function: the database from the environment,
// then every request goes to the pure handler.
import { loadServiceClient } from '../_shared/env.ts'
import { servePort } from '../_shared/serve.ts'
import { handleRequest } from './handler.ts'

if (import.meta.main) {
  const deps = { db: loadServiceClient() }
  Deno.serve(servePort(), (request) => handleRequest(request, deps))
}
