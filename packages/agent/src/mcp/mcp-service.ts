// The MCP side of DTMA, put together: it follows the instances' published
// views and keeps, for every MCP instance whose container exists, the way to
// its server and a health monitor; restarts what stops answering; and
// answers the app (McpApi). It observes the instances domain and reaches
// containers only through the runtime's interface.
import type { McpCapabilities, McpDriftState } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { InstanceView } from '../instances/view.ts'
import type { McpConfig } from '../model/mcp-config.ts'
import type { ContainerRuntime } from '../runtime/types.ts'
import type { McpHealthBoard } from './health-board.ts'
import type { DriftLock, LockFacts } from './drift-lock.ts'
import { InstanceMcp, type McpObserver } from './instance-mcp.ts'
import type { AuditedMethod, CallRecorder } from '../model/call-record.ts'
import { CallWatch } from './call-watch.ts'
import { grantedPipe } from './granted-pipe.ts'
import { proxyToServer } from './http-proxy.ts'
import type { McpApi, McpEndpoint, McpServerEntry } from './mcp-api.ts'
import { grantedOnly, type McpAccess } from './tool-grant.ts'
import { McpSelfHeal, type RestartObserver } from './self-heal.ts'
import { StatelessBridge } from './stateless-bridge.ts'
import { isStateless, withResultType } from './era.ts'
import { grantedAnswer } from './proxy-grant.ts'

export interface McpServiceOptions {
  instances: InstanceApi
  runtime: Pick<ContainerRuntime, 'attach' | 'inspect'>
  config: McpConfig
  selfHeal: boolean
  board: McpHealthBoard
  version: string
  logger: Logger
  observer: McpObserver & RestartObserver
  /** Told every tools/call, resources/read and prompts/get of every caller, with its outcome (the audit trail). */
  recorder?: CallRecorder
  /** The tool-drift lock: judges every listing, holds callers to what it withholds. */
  drift: DriftLock
}

/** What the drift lock judges an instance by: its id (a redeploy keeps it), its policy, whether its server has one session. */
function lockFacts(view: InstanceView): LockFacts {
  return { instanceId: view.accountToolInstanceId, drift: view.mcp?.drift ?? 'lock', shared: view.mcp?.transport !== 'http' }
}

export class McpService implements McpApi {
  private readonly servers = new Map<string, InstanceMcp>()
  readonly stateless = new StatelessBridge()
  private readonly healer: McpSelfHeal
  private readonly logger: Logger
  private unsubscribe: (() => void) | undefined
  private readonly serverListeners = new Set<() => void>()

  constructor(private readonly options: McpServiceOptions) {
    this.logger = options.logger.child({ module: 'mcp' })
    this.healer = new McpSelfHeal({ instances: options.instances, board: options.board, backoffMaxMs: options.config.restartBackoffMaxMs, enabled: options.selfHeal, logger: this.logger, observer: options.observer })
  }

  get settings(): McpApi['settings'] {
    const { startTimeoutMs, maxSessions, sessionIdleMs, allowedOrigins } = this.options.config
    return { startTimeoutMs, maxSessions, sessionIdleMs, allowedOrigins }
  }

  /** Open sessions of every multiplexed server. */
  get sessionCount(): number {
    let count = 0
    for (const server of this.servers.values()) count += server.sessionCount
    return count
  }

  start(): void {
    // After the current turn: a view listener must not publish inside another's publish.
    this.unsubscribe = this.options.instances.onChange(({ instanceName, view }) =>
      queueMicrotask(() => {
        this.follow(instanceName, view)
        if (view?.mcp != null || this.known.delete(instanceName)) this.serversChanged(instanceName, view)
      })
    )
    for (const { instanceName, view } of this.options.instances.snapshot()) this.follow(instanceName, view)
  }

  close(): void {
    this.unsubscribe?.()
    this.healer.close()
    this.stateless.closeAll()
    for (const server of this.servers.values()) server.close()
    this.servers.clear()
  }

  listServers(): McpServerEntry[] {
    const entries: McpServerEntry[] = []
    for (const { instanceName, view } of this.options.instances.snapshot()) {
      if (view?.mcp != null) entries.push(serverEntry(instanceName, view, view.mcp))
    }
    return entries
  }

  onServersChange(listener: () => void): () => void {
    this.serverListeners.add(listener)
    return () => this.serverListeners.delete(listener)
  }

  kindOf(instanceName: string): McpEndpoint['kind'] {
    return this.runningServer(instanceName).server.multiplexed ? 'sessions' : 'proxy'
  }

  endpoint(instanceName: string, caller: McpAccess = {}): McpEndpoint {
    const { view, server } = this.runningServer(instanceName)
    const access = this.withLock(view, caller)
    const watch = this.watchOf(instanceName, server, access)
    if (server.multiplexed) return { kind: 'sessions', open: () => grantedPipe(server.openSession(), access, watch?.()) }
    return {
      kind: 'proxy',
      forward: async (request) => {
        const answer = await proxyToServer(await server.url(), server.upstreamHeaders(), request, this.options.config.maxMessageBytes, access, watch)
        // A stateless request's results carry resultType, whether or not the server wrote it (a listen stream runs on as it is).
        const stamp = isStateless(request.headers, request.body) && (request.body as { method?: unknown }).method !== 'subscriptions/listen'
        return stamp ? grantedAnswer(answer, undefined, {}, this.options.config.maxMessageBytes, undefined, withResultType) : answer
      },
      stateless: async () => {
        const open = await server.statelessOpener()
        return open === undefined ? undefined : () => grantedPipe(open(), access, watch?.())
      }
    }
  }

  /** A maker of call watches for one caller of one server, when calls are recorded. */
  private watchOf(instanceName: string, server: InstanceMcp, access: McpAccess): (() => CallWatch) | undefined {
    const recorder = this.options.recorder
    if (recorder === undefined) return undefined
    const listed = (method: AuditedMethod, target: string): boolean => {
      const offer = server.monitor.offer
      const items = method === 'tools/call' ? offer?.tools : method === 'prompts/get' ? offer?.prompts : offer?.resources
      const key = method === 'resources/read' ? 'uri' : 'name'
      return items?.some((item) => item[key] === target) ?? false
    }
    return () => new CallWatch({ recorder, instanceName, caller: access.caller ?? 'anonymous', listed })
  }

  capabilities(instanceName: string, caller: McpAccess = {}): McpCapabilities {
    const { view, server } = this.serverOf(instanceName)
    const access = this.withLock(view, caller)
    const health = (view.mcp as NonNullable<InstanceView['mcp']>).health
    const offer = server?.monitor.offer
    return {
      instance_name_on_toolbox: instanceName,
      status: health.status,
      protocol_version: health.protocolVersion,
      server_info: health.serverInfo,
      server_capabilities: offer?.serverCapabilities ?? null,
      instructions: offer?.instructions ?? null,
      tools: offer === undefined ? null : grantedOnly(offer.tools, access),
      resources: offer?.resources ?? null,
      prompts: offer?.prompts ?? null,
      tools_fingerprint: health.toolsFingerprint,
      checked_at: health.checkedAt
    }
  }

  async whenReady(instanceName: string, timeoutMs: number): Promise<void> {
    const { server } = this.serverOf(instanceName)
    if (server === undefined) throw new DtmaError('mcp-unavailable', `Tool instance '${instanceName}' has no container`)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const health = this.options.board.health(instanceName)
        reject(new DtmaError('mcp-not-ready', `its MCP server did not answer initialize within ${Math.round(timeoutMs / 1000)} s (MCP status ${health?.status ?? 'unknown'}${health?.lastError ? `: ${health.lastError}` : ''})`))
      }, timeoutMs)
    })
    try {
      await Promise.race([server.monitor.whenReady(), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** What the aggregated endpoint last heard of each server (its entry's revision and readiness). */
  private readonly known = new Map<string, string>()

  private serversChanged(instanceName: string, view: InstanceView | undefined): void {
    const entry = view?.mcp == null ? undefined : serverEntry(instanceName, view, view.mcp)
    const said = entry === undefined ? undefined : `${entry.ready}|${entry.revision}|${entry.prefix}`
    if (said !== undefined) {
      if (this.known.get(instanceName) === said) return
      this.known.set(instanceName, said)
    }
    for (const listener of this.serverListeners) listener()
  }

  driftState(instanceName: string): McpDriftState {
    const { view } = this.serverOf(instanceName)
    const { pinned, withheld } = this.options.drift.details(instanceName)
    return {
      instance_name_on_toolbox: instanceName,
      drift: view.mcp?.drift ?? 'lock',
      admit_new_tools: this.options.drift.admitNewTools,
      pinned,
      withheld: withheld.map(({ name, change, pinned, current, pinnedAt }) => ({ name, change, pinned, current, pinned_at: pinnedAt }))
    }
  }

  approve(instanceName: string, which: 'all' | readonly string[]): { approved: string[]; withheld: string[]; unknown: string[] } {
    this.serverOf(instanceName)
    const result = this.options.drift.approve(instanceName, which)
    // Told at once: the event stream and the registry see the tools back.
    this.options.board.update(instanceName, { withheld: result.withheld })
    return { approved: result.approved, withheld: result.withheld.map(({ name }) => name), unknown: result.unknown }
  }

  /** The caller's access with the server's drift lock added. */
  private withLock(view: InstanceView, access: McpAccess): McpAccess {
    return { ...access, lock: this.options.drift.gate(view.instanceName, lockFacts(view)) }
  }

  /** The server of a running container; throws not found, not an MCP server, or unavailable. */
  private runningServer(instanceName: string): { view: InstanceView; server: InstanceMcp } {
    const { view, server } = this.serverOf(instanceName)
    if (server === undefined || view.dockerState !== 'running') {
      throw new DtmaError('mcp-unavailable', `Tool instance '${instanceName}' does not run (${view.status}): its MCP server cannot be reached`, { retryAfterSeconds: 5 })
    }
    return { view, server }
  }

  private serverOf(instanceName: string): { view: InstanceView; server: InstanceMcp | undefined } {
    const view = this.options.instances.get(instanceName)
    if (view.mcp === null) throw new DtmaError('not-mcp', `Tool instance '${instanceName}' is not an MCP server (it was deployed without mcpTransport)`)
    // A deploy's view may not have reached the listener yet.
    if (!this.servers.has(instanceName)) this.follow(instanceName, view)
    return { view, server: this.servers.get(instanceName) }
  }

  /** Keeps the MCP side of one instance in step with its view. */
  private follow(instanceName: string, view: InstanceView | undefined): void {
    let server = this.servers.get(instanceName)
    if (server !== undefined && (view?.mcp == null || server.containerId !== view.containerId)) {
      server.close()
      this.servers.delete(instanceName)
      server = undefined
    }
    if (view?.mcp == null) {
      this.healer.forget(instanceName)
      this.options.board.forget(instanceName)
      return
    }
    if (view.containerId === '') return
    if (server === undefined) {
      server = new InstanceMcp({
        instanceName,
        settings: view.mcp,
        containerId: view.containerId,
        runtime: this.options.runtime,
        credential: () => this.options.instances.mcpCredential(instanceName),
        config: this.options.config,
        board: this.options.board,
        version: this.options.version,
        logger: this.logger.child({ instanceName }),
        observer: this.options.observer,
        unresponsive: (reason) => this.healer.unresponsive(instanceName, reason),
        listed: (tools) => {
          // The instance as it is now (a redeploy keeps its id, so its pins): the lock judges by its id and policy.
          const now = this.options.instances.snapshot().find((entry) => entry.instanceName === instanceName)?.view ?? view
          const report = this.options.drift.listed(instanceName, lockFacts(now), tools)
          return { withheld: report.withheld, ...(report.drift !== undefined && { drift: report.drift }) }
        }
      })
      this.servers.set(instanceName, server)
    }
    if (view.dockerState === 'running') server.containerRunning(view.startedAt)
    else server.containerStopped()
  }
}

function serverEntry(instanceName: string, view: InstanceView, mcp: NonNullable<InstanceView['mcp']>): McpServerEntry {
  const ready = view.dockerState === 'running' && (mcp.health.status === 'ready' || mcp.health.status === 'degraded')
  return { instanceName, accountToolInstanceId: view.accountToolInstanceId, prefix: mcp.prefix, ready, revision: `${view.containerId}|${view.startedAt ?? ''}|${mcp.health.toolsFingerprint ?? ''}` }
}
