// What a credential that names instances (the token's `instances` claim) sees
// of lists: only those instances. A credential without the claim, or the
// fleet key, sees every instance. The :name routes are checked before their
// handler (plugins/app/auth.ts); lists, /status and /events filter here.
import type { FastifyRequest } from 'fastify'
import { grantsInstance } from '../credentials/grant.ts'
import type { InstanceView } from '../instances/view.ts'

/** True when the request's credential is narrowed to some instances. */
export function isNarrowed(request: Pick<FastifyRequest, 'grant'>): boolean {
  return request.grant?.instances !== undefined
}

/** The views the request's credential may see (the same array when it is not narrowed). */
export function visibleViews(request: Pick<FastifyRequest, 'grant'>, views: readonly InstanceView[]): readonly InstanceView[] {
  const grant = request.grant
  if (grant?.instances === undefined) return views
  return views.filter((view) => grantsInstance(grant, view.accountToolInstanceId))
}

/** Whether the request's credential may see an instance by its account_tool_instance_id (undefined: unknown). */
export function mayTouch(request: Pick<FastifyRequest, 'grant'>, accountToolInstanceId: string | undefined): boolean {
  const grant = request.grant
  return grant === undefined || grantsInstance(grant, accountToolInstanceId)
}
