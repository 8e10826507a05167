// Writes registry rows to Supabase through supabase-js with the service-role
// key: an upsert on account_tool_instance_id, a delete by it. Every request
// has a deadline (supabase-js has none), and failures come back as
// RegistryWriteError saying whether a retry can help. The key never appears
// in an error or a log line.
import { createClient, type SupabaseClient } from '@supabase/supabase-js'
import type { RegistryRow } from './registry-row.ts'

export const REGISTRY_TABLE = 'dtma_container_registry'

export class RegistryWriteError extends Error {
  override name = 'RegistryWriteError'
  constructor(
    message: string,
    /** HTTP status, 0 when no answer came. */
    readonly status: number,
    /** false: the row itself is refused (bad value, unknown instance); retrying cannot help. */
    readonly transient: boolean
  ) {
    super(message)
  }
}

/** 400/409/422 are about the row (constraint, foreign key, bad uuid); anything
 *  else (no answer, 5xx, 401/403 from a wrong key, 404 before the migration
 *  ran) is about the service and is retried, so nothing is dropped for it. */
const ROW_REFUSED = new Set([400, 409, 422])

export interface RegistryTarget {
  upsert(row: RegistryRow): Promise<void>
  delete(accountToolInstanceId: string): Promise<void>
}

export class SupabaseRegistryTarget implements RegistryTarget {
  private readonly client: SupabaseClient

  constructor(options: { url: string; serviceRoleKey: string; timeoutMs: number }) {
    const timedFetch: typeof fetch = (input, init) => {
      const deadline = AbortSignal.timeout(options.timeoutMs)
      return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline })
    }
    this.client = createClient(options.url, options.serviceRoleKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      global: { fetch: timedFetch }
    })
  }

  async upsert(row: RegistryRow): Promise<void> {
    const { error, status } = await this.client.from(REGISTRY_TABLE).upsert(row, { onConflict: 'account_tool_instance_id', ignoreDuplicates: false })
    if (error) throw writeError('upsert', status, error)
  }

  async delete(accountToolInstanceId: string): Promise<void> {
    const { error, status } = await this.client.from(REGISTRY_TABLE).delete().eq('account_tool_instance_id', accountToolInstanceId)
    if (error) throw writeError('delete', status, error)
  }
}

function writeError(operation: string, status: number, error: { message: string; code?: string }): RegistryWriteError {
  const code = error.code ? ` (${error.code})` : ''
  return new RegistryWriteError(`registry ${operation} failed: ${status || 'no answer'}${code} ${error.message}`, status, !ROW_REFUSED.has(status))
}
