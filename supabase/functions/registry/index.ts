// Entry of the registry edge function: the database from the environment,
// then every request goes to the pure handler. Deploy it with verify_jwt off
// (as heartbeat): the caller is a toolbox, checked by its own token.
import { loadServiceClient } from '../_shared/env.ts'
import { servePort } from '../_shared/serve.ts'
import { handleRequest } from './handler.ts'

if (import.meta.main) {
  const deps = { db: loadServiceClient() }
  Deno.serve(servePort(), (request) => handleRequest(request, deps))
}
