// Entry of the heartbeat edge function: the database from the environment,
// then every request goes to the pure handler.
import { loadServiceClient } from '../_shared/env.ts'
import { handleRequest } from './handler.ts'

if (import.meta.main) {
  const deps = { db: loadServiceClient() }
  Deno.serve((request) => handleRequest(request, deps))
}
