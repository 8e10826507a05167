// Entry of the toolboxes-user edge function (only its refresh-status route):
// settings from the environment, then every request goes to the pure handler.
import { loadFunctionEnv } from '../_shared/env.ts'
import { handleRequest } from './handler.ts'

if (import.meta.main) {
  const deps = loadFunctionEnv()
  Deno.serve((request) => handleRequest(request, deps))
}
