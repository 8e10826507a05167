// The protocol version of each caller session of a multiplexed server. A
// session gets the version it asks for when the agent can serve it: one the
// official SDK supports and no newer than the server's (what a newer version
// adds cannot be made up); otherwise the server's own.
//
// What crosses to a session of an older version: the server's results and
// notifications as the server wrote them, field for field, because that is
// what the same server sends a client of that version directly (servers do
// not trim their answers by version, and every version's schemas let a
// client skip fields it does not know: the fidelity tests compare answer by
// answer). What a version cannot take is a method it does not know: the
// server's requests and notifications of later versions (elicitation before
// 2025-06-18; tasks and URL elicitation before 2025-11-25) are not sent to it.
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js'

export const V2025_06 = '2025-06-18'
export const V2025_11 = '2025-11-25'

/** The version a session asking for `requested` is served, over a server speaking `server`. */
export function negotiateVersion(requested: unknown, server: string): string {
  if (typeof requested !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(requested)) return server
  // Versions are dates: later ones sort after earlier ones.
  return requested <= server ? requested : server
}

/** Methods a server sends (requests and notifications) that a version does not know. */
const METHOD_SINCE: Record<string, string> = {
  'elicitation/create': V2025_06,
  'notifications/elicitation/complete': V2025_11,
  'notifications/tasks/status': V2025_11,
  'tasks/get': V2025_11,
  'tasks/list': V2025_11,
  'tasks/result': V2025_11,
  'tasks/cancel': V2025_11
}

export function knowsMethod(version: string, method: string): boolean {
  const since = METHOD_SINCE[method]
  return since === undefined || version >= since
}
