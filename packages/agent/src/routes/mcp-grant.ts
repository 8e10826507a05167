// What a request's credential grants of one instance's MCP server (the
// tools its token names for that instance, or all), and the rule that a
// session stays with the grant that opened it: a later request on its
// Mcp-Session-Id must come with a credential of the same subject, instances
// and tools (a token renewed for the same grant is welcome). The agent
// holds a multiplexed server's sessions itself; of an http server's (the
// server holds them) it remembers which grant opened each, bounded.
import { grantedTools, grantsInstance, type Grant } from '../credentials/grant.ts'
import { DtmaError } from '../errors.ts'
import type { GatewayCaller } from '../gateway/gateway-api.ts'
import type { McpAccess } from '../mcp/mcp-api.ts'

export interface CallerAccess extends McpAccess {
  /** What a session opened with this access is bound to. */
  binding: string
  /** Narrowed to instances or tools: it may not use a session the agent did not see opened. */
  narrowed: boolean
}

const listed = (names: ReadonlySet<string> | undefined): string => (names === undefined ? '*' : JSON.stringify([...names].sort()))

/** Each grant's access per instance, made once: a remembered token's grant is the same object on every call. */
const accessOfGrant = new WeakMap<Grant, Map<string, CallerAccess>>()
const UNCHECKED: CallerAccess = Object.freeze({ binding: '', narrowed: false })

/** grant undefined: the app was built without a credential check (a test of the app alone). */
export function callerAccess(grant: Grant | undefined, accountToolInstanceId: string): CallerAccess {
  if (grant === undefined) return UNCHECKED
  let byInstance = accessOfGrant.get(grant)
  if (byInstance === undefined) accessOfGrant.set(grant, (byInstance = new Map()))
  let access = byInstance.get(accountToolInstanceId)
  if (access === undefined) byInstance.set(accountToolInstanceId, (access = Object.freeze(accessOf(grant, accountToolInstanceId))))
  return access
}

function accessOf(grant: Grant, accountToolInstanceId: string): CallerAccess {
  const tools = grantedTools(grant, accountToolInstanceId)
  const binding = `${grant.subject ?? ''}|${listed(grant.instances)}|${listed(tools)}`
  const caller = grant.source === 'fleet-key' ? 'fleet key' : (grant.subject ?? `${grant.source} without a subject`)
  return { ...(tools !== undefined && { tools }), caller, binding, narrowed: grant.instances !== undefined || tools !== undefined }
}

/** What the request's credential grants on the aggregated endpoint: the instances it names, each as callerAccess says. */
export function gatewayCaller(grant: Grant | undefined): GatewayCaller {
  if (grant === undefined) return { binding: '', narrowed: false, accessTo: (id) => callerAccess(undefined, id) }
  const tools = grant.tools === undefined ? '*' : JSON.stringify([...grant.tools].map(([id, names]) => [id, listed(names)]).sort())
  return {
    binding: `${grant.subject ?? ''}|${listed(grant.instances)}|${tools}`,
    narrowed: grant.instances !== undefined || grant.tools !== undefined,
    accessTo: (id) => (grantsInstance(grant, id) ? callerAccess(grant, id) : undefined)
  }
}

export function checkBinding(bound: string, access: CallerAccess): void {
  if (bound === access.binding) return
  throw new DtmaError('mcp-session-of-other-grant', 'this MCP session was opened with a credential that grants other instances or tools: initialize a session of your own')
}

/** Which grant opened each session of an http server, the most recently used kept. */
export class ProxiedSessionBindings {
  private readonly bound = new Map<string, string>()

  constructor(private readonly max: number) {}

  remember(instanceName: string, sessionId: string, access: CallerAccess): void {
    const key = `${instanceName}\n${sessionId}`
    this.bound.delete(key)
    this.bound.set(key, access.binding)
    if (this.bound.size > this.max) this.bound.delete(this.bound.keys().next().value as string)
  }

  check(instanceName: string, sessionId: string, access: CallerAccess): void {
    const key = `${instanceName}\n${sessionId}`
    const binding = this.bound.get(key)
    if (binding === undefined) {
      // Opened before the agent started, or forgotten: a narrowed credential starts one of its own.
      if (access.narrowed) throw new DtmaError('mcp-session-not-found', 'MCP session not found (it ended, or the agent restarted): initialize a new one')
      return
    }
    checkBinding(binding, access)
    this.bound.delete(key)
    this.bound.set(key, binding)
  }
}
