// The MCP side of DTMA, put together: it follows the instances' published
// views and keeps, for every MCP instance whose container exists, the way to
// its server and a health monitor; restarts what stops answering; and
// answers the app (McpApi). It observes the instances domain and reaches
// containers only through the runtime's interface.
import type { McpCapabilities } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { InstanceView } from '../instances/view.ts'
import type { McpConfig } from '../model/mcp-config.ts'
import type { ContainerRuntime } from '../runtime/types.ts'
import type { McpHealthBoard } from './health-board.ts'
import { InstanceMcp, type McpObserver } from './instance-mcp.ts'
import { grantedPipe } from './granted-pipe.ts'
import { proxyToServer } from './http-proxy.ts'
import type { McpApi, McpEndpoint } from './mcp-api.ts'
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
}

export class McpService implements McpApi {
  private readonly servers = new Map<string, InstanceMcp>()
  readonly stateless = new StatelessBridge()
  private readonly healer: McpSelfHeal
  private readonly logger: Logger
  private unsubscribe: (() => void) | undefined

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
    this.unsubscribe = this.options.instances.onChange(({ instanceName, view }) => queueMicrotask(() => this.follow(instanceName, view)))
    for (const { instanceName, view } of this.options.instances.snapshot()) this.follow(instanceName, view)
  }

  close(): void {
    this.unsubscribe?.()
    this.healer.close()
    this.stateless.closeAll()
    for (const server of this.servers.values()) server.close()
    this.servers.clear()
  }

  endpoint(instanceName: string, access: McpAccess = {}): McpEndpoint {
    const { view, server } = this.serverOf(instanceName)
    if (server === undefined || view.dockerState !== 'running') {
      throw new DtmaError('mcp-unavailable', `Tool instance '${instanceName}' does not run (${view.status}): its MCP server cannot be reached`, { retryAfterSeconds: 5 })
    }
    if (server.multiplexed) return { kind: 'sessions', open: () => grantedPipe(server.openSession(), access) }
    return {
      kind: 'proxy',
      forward: async (request) => {
        const answer = await proxyToServer(await server.url(), server.upstreamHeaders(), request, this.options.config.maxMessageBytes, access)
        // A stateless request's results carry resultType, whether or not the server wrote it (a listen stream runs on as it is).
        const stamp = isStateless(request.headers, request.body) && (request.body as { method?: unknown }).method !== 'subscriptions/listen'
        return stamp ? grantedAnswer(answer, undefined, {}, this.options.config.maxMessageBytes, withResultType) : answer
      },
      stateless: async () => {
        const open = await server.statelessOpener()
        return open === undefined ? undefined : () => grantedPipe(open(), access)
      }
    }
  }

  capabilities(instanceName: string, access: McpAccess = {}): McpCapabilities {
    const { view, server } = this.serverOf(instanceName)
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
        unresponsive: (reason) => this.healer.unresponsive(instanceName, reason)
      })
      this.servers.set(instanceName, server)
    }
    if (view.dockerState === 'running') server.containerRunning(view.startedAt)
    else server.containerStopped()
  }
}
