// GET /audit: the audit trail of MCP calls, newest first, filtered by
// instance, subject and time. A token narrowed to some instances reads only
// their calls. Without a trail (an app built alone, in a test) it is empty.
import type { AuditApi } from '../audit/audit-api.ts'
import type { Handlers } from './register.ts'

export function auditHandlers(audit: Pick<AuditApi, 'list'> | undefined): Pick<Handlers, 'audit'> {
  return {
    audit: async (request) => {
      const data = audit?.list(request.query, request.grant?.instances) ?? []
      return { status: 200, body: { success: true as const, data } }
    }
  }
}
