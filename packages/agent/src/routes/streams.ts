// Handlers of the stream routes: a container's logs, and the server-sent
// event stream of instance changes, MCP status, pull progress, the
// agent's upgrade, and MCP calls (`audit`, to a token that may read logs).
// Listeners are attached before the answer starts, so a client that has the
// response headers sees every change after them (subscribe, then deploy:
// nothing is missed). Bounded: at most maxClients streams at once (one more
// gets a 503 with Retry-After), and every write, keep-alives too, first
// checks what the client has left unread.
import { PassThrough } from 'node:stream'
import { Scope, type InstanceEvent, type McpEvent } from '@dtma/contract'
import type { AuditApi } from '../audit/audit-api.ts'
import { DtmaError } from '../errors.ts'
import type { FleetApi } from '../fleet/fleet-api.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import { mcpInfo } from '../instances/mcp-info.ts'
import { auditHandlers } from './audit.ts'
import type { InstanceView } from '../instances/view.ts'
import { isNarrowed, mayTouch } from './narrow.ts'
import type { Handlers } from './register.ts'
import { toolInstance } from './wire.ts'

/** A client that stops reading is dropped once this much waits for it. */
const MAX_EVENT_BACKLOG_BYTES = 1024 * 1024
/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000
/** What a client over the cap is told to wait. */
const RETRY_AFTER_S = 5

export interface StreamLimits {
  /** Event stream clients at once. */
  maxClients: number
}

export function streamHandlers(instances: InstanceApi, fleet: Pick<FleetApi, 'onUpgrade' | 'lastUpgrade'>, limits: StreamLimits, audit?: AuditApi): Pick<Handlers, 'toolLogs' | 'events' | 'audit'> {
  let clients = 0
  return {
    ...auditHandlers(audit),
    toolLogs: async (request) => ({ status: 200, stream: await instances.logs(request.params.name, request.query) }),

    events: async (request) => {
      if (clients >= limits.maxClients) {
        throw new DtmaError('too-many-streams', `Service Unavailable: ${limits.maxClients} event streams are open, the most this agent serves (DTMA_EVENTS_MAX_CLIENTS); try again later`, { retryAfterSeconds: RETRY_AFTER_S })
      }
      clients++
      const wanted = request.query.name
      const stream = new PassThrough()
      /** Writes unless the client has left too much unread; such a client is dropped. */
      const write = (text: string): void => {
        if (stream.destroyed) return
        if (stream.writableLength > MAX_EVENT_BACKLOG_BYTES) {
          request.log.warn({ backlogBytes: stream.writableLength }, 'event stream client is not reading: dropped')
          stream.destroy()
          return
        }
        stream.write(text)
      }
      // A token narrowed to some instances hears only of those (by the id their views last carried) and not of the agent's upgrades.
      const narrowed = isNarrowed(request)
      const idOf = new Map<string, string>()
      const send = (event: 'instance' | 'pull' | 'mcp' | 'upgrade' | 'audit', instanceName: string | undefined, data: unknown): void => {
        // Upgrade events are about the agent: every client hears them that is not narrowed.
        if (wanted !== undefined && instanceName !== undefined && instanceName !== wanted) return
        if (narrowed && (instanceName === undefined || !mayTouch(request, idOf.get(instanceName)))) return
        write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      }
      const instanceEvent = (instanceName: string, view: InstanceView | undefined): InstanceEvent => ({ instanceName, instance: view === undefined ? null : toolInstance(view) })

      // An MCP server's status and tool fingerprint as last told, to send an `mcp` event when either changes.
      const mcpSeen = new Map<string, string>()
      const mcpKey = (view: InstanceView | undefined) =>
        view?.mcp == null ? '' : `${view.mcp.health.status} ${view.mcp.health.toolsFingerprint} ${JSON.stringify(view.mcp.health.withheld)} ${view.mcp.health.drift?.detectedAt ?? ''}`
      const driftSeen = new Map<string, string>()
      const remember = (instanceName: string, view: InstanceView | undefined): void => {
        if (view !== undefined) idOf.set(instanceName, view.accountToolInstanceId)
      }
      for (const { instanceName, view } of instances.snapshot()) {
        remember(instanceName, view)
        mcpSeen.set(instanceName, mcpKey(view))
        driftSeen.set(instanceName, view?.mcp?.health.drift?.detectedAt ?? '')
        send('instance', instanceName, instanceEvent(instanceName, view))
      }
      const stopChanges = instances.onChange(({ instanceName, view }) => {
        remember(instanceName, view)
        send('instance', instanceName, instanceEvent(instanceName, view))
        const key = mcpKey(view)
        if ((mcpSeen.get(instanceName) ?? '') === key) return
        mcpSeen.set(instanceName, key)
        const event: McpEvent = { instanceName, mcp: view === undefined ? null : mcpInfo(view) }
        // A new detection of the drift lock: the event says which tools changed (names only).
        const drift = view?.mcp?.health.drift
        if (drift != null && driftSeen.get(instanceName) !== drift.detectedAt) {
          driftSeen.set(instanceName, drift.detectedAt)
          Object.assign(event, { kind: 'drift', drift: { tools: drift.tools, approved: drift.approved, detected_at: drift.detectedAt } })
        }
        send('mcp', instanceName, event)
      })
      const stopPulls = instances.onPullProgress((event) => send('pull', event.instanceName, event))
      const lastUpgrade = fleet.lastUpgrade()
      if (lastUpgrade !== undefined) send('upgrade', undefined, lastUpgrade)
      const stopUpgrades = fleet.onUpgrade((event) => send('upgrade', undefined, event))
      // Who called what is the audit's (GET /audit's scope): told only to a token that may read logs.
      const hearsAudit = request.grant === undefined || request.grant.scopes.has(Scope.logsRead)
      const stopAudit = hearsAudit ? audit?.onRecord((record) => send('audit', record.instance_name_on_toolbox, record)) : undefined
      const keepAlive = setInterval(() => write(': keep-alive\n\n'), KEEP_ALIVE_MS)
      stream.once('close', () => {
        clients--
        stopChanges()
        stopPulls()
        stopUpgrades()
        stopAudit?.()
        clearInterval(keepAlive)
      })
      return { status: 200, stream }
    }
  }
}
