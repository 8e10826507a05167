// Moves an instance's status_on_toolbox around one agent operation: the
// in-between status first, then the outcome, or 'error' with the reason.
// Only enum values reach the column (the type says so).
import type { InstallationStatus } from '../_shared/database.ts'
import { HttpError } from '../_shared/http.ts'
import type { ToolboxContext } from './context.ts'
import { setInstanceStatus } from './instances.ts'

export async function transition(
  ctx: ToolboxContext,
  instanceId: string,
  during: InstallationStatus,
  operation: () => Promise<InstallationStatus>
): Promise<InstallationStatus> {
  await setInstanceStatus(ctx.db, instanceId, during, null)
  return await settle(ctx, instanceId, operation)
}

/** The outcome part of a transition, for rows inserted with their in-between status. */
export async function settle(ctx: ToolboxContext, instanceId: string, operation: () => Promise<InstallationStatus>): Promise<InstallationStatus> {
  let outcome: InstallationStatus
  try {
    outcome = await operation()
  } catch (error) {
    const reason = error instanceof HttpError ? error.message : 'Internal error'
    // The caller must hear the agent's failure even if this write fails too.
    await setInstanceStatus(ctx.db, instanceId, 'error', reason).catch(() => undefined)
    throw error
  }
  await setInstanceStatus(ctx.db, instanceId, outcome, null)
  return outcome
}
