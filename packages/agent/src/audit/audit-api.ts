// What the HTTP app and the registry mirror need of the audit trail: the
// rows (GET /audit), each new one as it is written (the `audit` event, the
// mirror's cue), and the rows the registry does not have yet.
import type { AuditQuery, AuditRecord } from '@dtma/contract'

export type AuditListener = (record: AuditRecord) => void

export interface AuditApi {
  /** Newest first; `instanceIds`: only rows of these account_tool_instance_ids (a token narrowed to instances). */
  list(query: AuditQuery, instanceIds?: ReadonlySet<string>): AuditRecord[]
  onRecord(listener: AuditListener): () => void
}
