// Entry of the toolbox-enroll edge function. Settings: SUPABASE_URL and
// SUPABASE_SERVICE_ROLE_KEY (the database, in the backend), SUPABASE_ANON_KEY
// (public, handed to the toolbox for supabase-js), BACKEND_TO_DTMA_API_KEY
// while the deployed backend still calls agents with it (only its SHA-256
// leaves), DTMA_TOOLBOX_SUPABASE_URL when toolboxes reach the project at
// another address. Deploy it with verify_jwt off: the caller has no user.
import { loadServiceClient } from '../_shared/env.ts'
import { servePort } from '../_shared/serve.ts'
import { handleRequest, sha256Hex } from './handler.ts'

if (import.meta.main) {
  const fleetKey = Deno.env.get('BACKEND_TO_DTMA_API_KEY')
  const supabaseUrl = (Deno.env.get('DTMA_TOOLBOX_SUPABASE_URL') ?? Deno.env.get('SUPABASE_URL') ?? '').replace(/\/+$/, '')
  const deps = {
    db: loadServiceClient(),
    settings: {
      backendApiKeySha256: fleetKey ? await sha256Hex(fleetKey) : null,
      functionsUrl: `${supabaseUrl}/functions/v1`,
      supabaseUrl,
      anonKey: Deno.env.get('SUPABASE_ANON_KEY') ?? null
    }
  }
  Deno.serve(servePort(), (request) => handleRequest(request, deps))
}
