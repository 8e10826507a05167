// The composition root: builds DTMA's services (Docker runtime, store,
// domain, the MCP bridge and monitors, the fleet's take-over and upgrade,
// registry mirror, heartbeat, metrics), hands the domain, MCP and the fleet to the HTTP
// app, and ties their lifecycles to the app's: Docker is followed from the
// moment the app is ready, the reporters start after the first reconcile,
// and on shutdown operations finish, the outbox flushes, the store closes.
// server.ts runs what this builds; tests build the same with a temp data dir.
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import dtmaApp from './app.ts'
import { AuditLog } from './audit/audit-log.ts'
import { AuditTrail } from './audit/audit-trail.ts'
import type { Config } from './config.ts'
import { FleetService } from './fleet/fleet-service.ts'
import { EarlierAgentContainers } from './fleet/legacy/legacy-service.ts'
import { Redeployer } from './fleet/upgrade/redeployer.ts'
import { heartbeatFromConfig } from './heartbeat/heartbeat.ts'
import { createHttpServer } from './http-server.ts'
import { InstanceService } from './instances/instance-service.ts'
import type { LogTail } from './log-tail.ts'
import { LazyGateway } from './gateway/lazy-gateway.ts'
import { DriftLock } from './mcp/drift-lock.ts'
import { McpHealthBoard } from './mcp/health-board.ts'
import { McpService } from './mcp/mcp-service.ts'
import { instanceStatusMetrics, reconcileMetrics, takeOverMetrics } from './metrics/instance-metrics.ts'
import { instrumentRuntime } from './metrics/instrumented-runtime.ts'
import { mcpMetrics } from './metrics/mcp-metrics.ts'
import { networkPolicyMetrics } from './metrics/netpolicy-metrics.ts'
import { Metrics } from './metrics/metrics.ts'
import { admittingRuntime } from './netpolicy/admitting-runtime.ts'
import { NetworkPolicyEnforcer } from './netpolicy/enforcer.ts'
import { ExecIptables } from './netpolicy/executor.ts'
import { auditMirrorFromConfig } from './registry/audit-mirror.ts'
import { registryFromConfig } from './registry/registry-sync.ts'
import { DockerRuntime } from './runtime/docker/docker-runtime.ts'
import type { ContainerRuntime } from './runtime/types.ts'
import { InstanceStore } from './store/instance-store.ts'
import { ToolPinStore } from './store/tool-pin-store.ts'
import { TlsIdentity } from './tls/tls-identity.ts'

export interface AgentOptions {
  config: Config
  logger: Logger
  logTail: LogTail
  /** The runtime to drive; the Docker engine of the config by default (tests hand a spy). */
  runtime?: ContainerRuntime
  /** POST /restart: exits for the supervisor to start the agent again. */
  restart?: () => void
}

export interface Agent {
  app: FastifyInstance
  instances: InstanceService
  mcp: McpService
  store: InstanceStore
  tls: TlsIdentity
}

/** How often the host's addresses are compared with the certificate's names. */
const TLS_CHECK_INTERVAL_MS = 60_000
/** The longest the agent waits for the network policy's first install before it serves (a hung engine). */
const POLICY_INSTALL_WAIT_MS = 10_000
/** How long a server may take to answer the aggregated endpoint's initialize or listing before that listing leaves it out. */
const GATEWAY_TIMEOUT_MS = 3000

export function dockerRuntimeFor(config: Config): DockerRuntime {
  return new DockerRuntime({ socketPath: config.dockerSocket, scope: config.scope, sandbox: config.tool, pullTimeoutMs: config.pullTimeoutMs })
}

export async function composeAgent(options: AgentOptions): Promise<Agent> {
  const { config, logger } = options
  const metrics = new Metrics()
  const store = new InstanceStore(config.dataDir)
  const docker = dockerRuntimeFor(config)
  const runtime = instrumentRuntime(options.runtime ?? docker, metrics)
  // What the MCP monitors see goes into the instances' views (and from there to every reporter).
  const mcpHealth = new McpHealthBoard()
  let legacy: EarlierAgentContainers | undefined
  const instances = new InstanceService({
    // A narrowed tool's new container is refused everything before it first starts (the policy is built below).
    runtime: admittingRuntime(runtime, { admit: (mac) => policy.admit(mac) }),
    mcpHealth,
    store,
    logger,
    ports: { ...config.toolPorts, agentPort: config.port },
    toolHostIp: config.tool.hostIp,
    toolLimits: config.tool,
    stopTimeoutSeconds: config.tool.stopTimeoutSeconds,
    selfHeal: config.selfHeal,
    resyncIntervalMs: config.resyncIntervalMs,
    observer: reconcileMetrics(metrics),
    takeOverObserver: takeOverMetrics(metrics),
    legacy: (domain) => (legacy = new EarlierAgentContainers(domain, { agentPort: config.port, adoptLabelled: config.adoptLabelled }))
  })
  const redeployer = new Redeployer({ runtime, logger, ...config.upgrade, dockerSocket: config.dockerSocket, helperRecordFile: join(config.dataDir, 'upgrade-helper.json') })
  const fleet = new FleetService(legacy as EarlierAgentContainers, redeployer)
  instanceStatusMetrics(metrics, instances)
  mcpHealth.onChange((instanceName) => instances.republish(instanceName))
  const mcpObserver = mcpMetrics(metrics, { instances, sessionCount: () => mcp.sessionCount })
  // The drift lock's pins live in the store's file, through a connection of their own.
  const pins = new ToolPinStore(store.path)
  // Every MCP call of every caller, kept in the store's file (a table of its own), counted, streamed, mirrored.
  const auditLog = new AuditLog(store.path, config.audit, (error) => logger.error({ err: { message: error.message } }, 'audit rows not written'))
  const audit = new AuditTrail({ log: auditLog, instances, metrics, logger })
  const mcp: McpService = new McpService({
    instances,
    runtime,
    config: config.mcp,
    selfHeal: config.selfHeal,
    board: mcpHealth,
    version: config.version,
    logger,
    observer: mcpObserver,
    recorder: audit,
    drift: new DriftLock({ pins, admitNewTools: config.mcp.admitNewTools, observer: mcpObserver, logger: logger.child({ module: 'drift-lock' }) })
  })
  // The aggregated /mcp: a client of every server's per-instance path; a server that takes longer than this to list is left out.
  // Made (and its SDK v2 loaded) at its first request.
  const gateway = new LazyGateway(async () => {
    const { GatewayService } = await import('./gateway/gateway-service.ts')
    return new GatewayService({ mcp, version: config.version, timeoutMs: GATEWAY_TIMEOUT_MS, maxSessions: config.mcp.maxSessions, idleMs: config.mcp.sessionIdleMs })
  })
  const policy: NetworkPolicyEnforcer = new NetworkPolicyEnforcer({
    mode: config.networkPolicy.mode,
    scope: config.scope,
    network: config.tool.network,
    instances,
    inspector: docker,
    executor: new ExecIptables(config.networkPolicy.iptables),
    logger,
    resyncIntervalMs: config.resyncIntervalMs,
    resolveIntervalMs: config.networkPolicy.resolveIntervalMs,
    observer: networkPolicyMetrics(metrics, () => policy.status())
  })
  const registry = registryFromConfig({ config, storePath: store.path, instances, logger, metrics })
  const auditMirror = auditMirrorFromConfig({ config, log: auditLog, trail: audit, logger, metrics })
  // HTTPS by default: the given certificate, or the agent's own, kept in the data dir.
  const tls = new TlsIdentity({ dataDir: config.dataDir, extraNames: config.tlsNames, ...(config.tls !== undefined && { files: config.tls }), logger, checkIntervalMs: TLS_CHECK_INTERVAL_MS })
  const heartbeat = heartbeatFromConfig({ config, instances, logger, metrics, tls })

  const app = createHttpServer(config, logger, tls)
  await app.register(dtmaApp, { config, instances, mcp, gateway, fleet, metrics, policy, audit, logTail: options.logTail, tls, ...(options.restart !== undefined && { restart: options.restart }) })
  app.addHook('onReady', async () => {
    // The network policy is installed (or known degraded) before the agent serves: its own chain as the
    // last agent left it, then, after the first reconcile, each instance's rules from its view.
    await Promise.race([policy.install(), new Promise((resolve) => setTimeout(resolve, POLICY_INSTALL_WAIT_MS).unref())])
    instances.connect()
    void instances.whenReady().then(() => policy.follow())
    mcp.start()
    // An upgrade that started (or rolled back to) this agent: its outcome.
    void instances.whenReady().then(() => redeployer.collectAtStart())
    // They report only what the first reconcile confirmed.
    registry?.start()
    auditMirror?.start()
    heartbeat?.start()
    tls.start()
  })
  // The links close; the servers and their open stdin stay for the next agent.
  // Its rules stay: a stopped agent leaves the toolbox closed, not open.
  app.addShutdownStep('drain', 'network policy', () => policy.close())
  app.addShutdownStep('drain', 'aggregated MCP endpoint', () => gateway.close())
  app.addShutdownStep('drain', 'MCP links and monitors', () => mcp.close())
  app.addShutdownStep('drain', 'instance operations and Docker events', () => instances.shutdown())
  app.addShutdownStep('drain', 'heartbeat', () => heartbeat?.close())
  app.addShutdownStep('drain', 'certificate checks', () => tls.close())
  app.addShutdownStep('flush', 'registry outbox', () => registry?.close())
  app.addShutdownStep('flush', 'audit mirror', () => auditMirror?.close())
  app.addShutdownStep('flush', 'audit trail', () => auditLog.close())
  // Last: the drained operations and the outbox flush use the store.
  app.addShutdownStep('flush', 'close store', () => {
    pins.close()
    store.close()
  })
  return { app, instances, mcp, store, tls }
}
