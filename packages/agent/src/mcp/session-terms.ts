// What each caller session of a multiplexed server declared in its
// initialize (its version and capabilities), and the rules that follow from
// it: which session may be sent a request of the server (sampling,
// elicitation, roots), which log messages and resource updates are its own.
//
// What the agent declares to the server, once per server process: the server
// is initialized before any caller session exists and is shared by all, so
// the agent declares the forms of sampling and elicitation that any caller
// who declares them can answer, at any version: sampling without tools or
// context, and elicitation by form (not by URL, which only 2025-11-25 callers
// know). Servers offer their sampling and elicitation tools on that (the
// reference server registers them only for clients that declare them); a
// request no open session can answer is refused at once. Roots are not
// declared: they are one client's files, and a shared server cannot be given
// one session's roots as its own (a server that asks anyway is answered by a
// session that declared roots, or refused).
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js'
import { knowsMethod } from './protocol-version.ts'

export const AGENT_CLIENT_CAPABILITIES: ClientCapabilities = { sampling: {}, elicitation: { form: {} } }

export interface SessionTerms {
  protocolVersion: string
  capabilities: ClientCapabilities
}

type Json = Record<string, unknown>

/** Whether a session that declared `terms` can answer the server's request. */
export function canAnswer(terms: SessionTerms, method: string, params: Json | undefined): boolean {
  if (!knowsMethod(terms.protocolVersion, method)) return false
  const { sampling, elicitation, roots } = terms.capabilities as Record<string, Json | undefined>
  switch (method) {
    case 'sampling/createMessage':
      return sampling !== undefined && ((params?.tools === undefined && params?.toolChoice === undefined) || sampling.tools !== undefined)
    case 'elicitation/create':
      if (elicitation === undefined) return false
      // An empty elicitation capability is form mode (2025-06-18 knew only forms).
      return params?.mode === 'url' ? elicitation.url !== undefined : elicitation.form !== undefined || elicitation.url === undefined
    case 'roots/list':
      return roots !== undefined
    default:
      // A request the agent knows no capability for (a newer version's): a caller of a version that knows it.
      return true
  }
}

interface Candidate {
  readonly isClosed: boolean
  readonly terms: SessionTerms | undefined
}

/**
 * The session a request of the server goes to, with the request of its own
 * the request belongs to: among the callers waiting on the server (most
 * recent first), the first that can answer; when none waits, the server asks
 * of its own accord, and any open session that can answer gets it.
 */
export function answererOf<S extends Candidate, R>(
  callers: Array<{ session: S; id: R }>,
  sessions: S[],
  method: string,
  params: Json | undefined
): { session: S; related?: R } | undefined {
  const able = (session: S) => !session.isClosed && session.terms !== undefined && canAnswer(session.terms, method, params)
  if (callers.length > 0) {
    const entry = callers.find((caller) => able(caller.session))
    return entry && { session: entry.session, related: entry.id }
  }
  const session = sessions.find(able)
  return session && { session }
}

/** Log levels, least severe first (RFC 5424 as MCP names them). */
const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency']

export function logSeverity(level: unknown): number {
  const index = LOG_LEVELS.indexOf(String(level))
  return index === -1 ? LOG_LEVELS.length : index
}

/** The most verbose of the levels the sessions asked for: what the server is asked to send. */
export function serverLogLevel(levels: Iterable<string | undefined>): string | undefined {
  let lowest: string | undefined
  for (const level of levels) if (level !== undefined && (lowest === undefined || logSeverity(level) < logSeverity(lowest))) lowest = level
  return lowest
}
