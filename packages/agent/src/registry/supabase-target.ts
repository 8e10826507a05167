// Writes registry rows through the backend's `registry` edge function with
// supabase-js (`functions.invoke`), authenticated by this toolbox's own
// token: the function checks the token and the database lets a toolbox
// write only its own instances' rows. No service-role key is on the VM.
// Every request has a deadline (supabase-js has none), and failures come
// back as RegistryWriteError saying whether a retry can help. The token
// never appears in an error or a log line. supabase-js is loaded at the
// first write (~9 MB of the agent's memory on a toolbox without a registry).
import type { AuditRecord, RegistryRequest } from '@dtma/contract'
import type { SupabaseClient } from '@supabase/supabase-js'
import { retryAfterMs } from '../pacing.ts'
import type { RegistryRow } from './registry-row.ts'

export const REGISTRY_FUNCTION = 'registry'

export class RegistryWriteError extends Error {
  override name = 'RegistryWriteError'
  constructor(
    message: string,
    /** HTTP status, 0 when no answer came. */
    readonly status: number,
    /** false: the row itself is refused (bad value, not this toolbox's instance); retrying cannot help. */
    readonly transient: boolean,
    /** The wait a 429 or 503 asked for (Retry-After), in ms. */
    readonly retryAfterMs?: number
  ) {
    super(message)
  }
}

/** 400/403/409/422 are about the row (bad value, another toolbox's or an
 *  unknown instance); anything else (no answer, 5xx, 401 from a token the
 *  backend does not know yet, 404 before the function is deployed) is about
 *  the service and is retried, so nothing is dropped for it. */
const ROW_REFUSED = new Set([400, 403, 409, 422])

export interface RegistryTarget {
  upsert(row: RegistryRow): Promise<void>
  delete(accountToolInstanceId: string): Promise<void>
}

export interface FunctionTargetOptions {
  /** The project URL; the function answers at {url}/functions/v1/registry. */
  url: string
  /** This toolbox's own token (Authorization: Bearer). */
  token: string
  /** The project's public key for the apikey header; the token when not given. */
  anonKey?: string
  timeoutMs: number
}

type SupabaseJs = typeof import('@supabase/supabase-js')

export class SupabaseRegistryTarget implements RegistryTarget {
  private client: Promise<{ client: SupabaseClient; supabase: SupabaseJs }> | undefined

  constructor(private readonly options: FunctionTargetOptions) {}

  private connect(): Promise<{ client: SupabaseClient; supabase: SupabaseJs }> {
    this.client ??= import('@supabase/supabase-js').then((supabase) => {
      const { options } = this
      const timedFetch: typeof fetch = (input, init) => {
        const deadline = AbortSignal.timeout(options.timeoutMs)
        return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline })
      }
      return {
        supabase,
        // accessToken: supabase-js sends it as the bearer on every call; no session, no auth client.
        client: supabase.createClient(options.url, options.anonKey ?? options.token, {
          accessToken: async () => options.token,
          global: { fetch: timedFetch }
        })
      }
    })
    return this.client
  }

  upsert(row: RegistryRow): Promise<void> {
    return this.invoke({ operation: 'upsert', row })
  }

  delete(accountToolInstanceId: string): Promise<void> {
    return this.invoke({ operation: 'delete', account_tool_instance_id: accountToolInstanceId })
  }

  /** A batch of MCP calls for dtma_mcp_audit (registry/audit-mirror.ts). */
  audit(rows: AuditRecord[]): Promise<void> {
    return this.invoke({ operation: 'audit', rows })
  }

  private async invoke(body: RegistryRequest): Promise<void> {
    const { client, supabase } = await this.connect()
    const { error } = await client.functions.invoke(REGISTRY_FUNCTION, { body })
    if (error) throw await writeError(supabase, body.operation, error)
  }
}

async function writeError({ FunctionsHttpError, FunctionsFetchError }: SupabaseJs, operation: string, error: Error): Promise<RegistryWriteError> {
  if (error instanceof FunctionsHttpError) {
    const response = error.context as Response
    // The function's own sentence ({ success:false, error, code }): it names the problem, never a secret.
    const answer = (await response.json().catch(() => ({}))) as { error?: string; code?: string }
    const detail = answer.code !== undefined ? ` (${answer.code}) ${answer.error ?? ''}` : ''
    return new RegistryWriteError(
      `registry ${operation} failed: ${response.status}${detail}`,
      response.status,
      !ROW_REFUSED.has(response.status),
      retryAfterMs(response.status, response.headers)
    )
  }
  const cause = error instanceof FunctionsFetchError ? 'no answer' : error.name
  return new RegistryWriteError(`registry ${operation} failed: ${cause}`, 0, true)
}
