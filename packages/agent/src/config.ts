// Every DTMA setting, read and validated once at start into a typed object.
// Sources: the process environment, then the optional /etc/dtma.conf
// (KEY=value lines); the environment wins. Nothing else reads process.env.
// What each setting may be is in config-schema.ts.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseConfFile, TOKEN_CLOCK_SKEW_S, TOKEN_MAX_LIFETIME_S } from '@dtma/contract'
import { readBuildInfo } from '@dtma/contract/build-info'
import { Value } from 'typebox/value'
import { ConfigSchema, DEFAULT_CAP_ADD, RETIRED_SETTINGS, TOOLBOX_CREDENTIALS_FILE, type RawConfig } from './config-schema.ts'
import type { McpConfig } from './model/mcp-config.ts'

export interface Config {
  port: number
  host: string
  /** How bearer routes check a caller: the access token and the fleet key (credentials/). */
  tokens: TokenSettings
  /** SHA-256 (hex) of the fleet key of an enrolled toolbox, which it never holds (accepted like backendApiKey). */
  fleetKeyHashes: string[]
  /** The fleet key, BACKEND_TO_DTMA_API_KEY: a bearer for tools:read and tools:write while tokens.acceptFleetKey. */
  backendApiKey?: string
  /** Single-use enrolment token; used only while no credentials are stored. */
  enrolmentToken?: string
  /** Settings that were set but are no longer read (RETIRED_SETTINGS): names only. */
  ignoredSettings: string[]
  /** The per-VM secret: the key of this toolbox's tokens (HS256) and its own credential toward the backend; never a bearer. */
  vmToken?: string
  /** This toolbox's account_tool_environments.id (setting or enrolment): its tokens' audience. */
  environmentId?: string
  apiBaseUrl?: string
  offlineMode: boolean
  dataDir: string
  dockerSocket: string
  /** Labels this agent's containers; another scope's are never touched. */
  scope: string
  /** The sandbox every tool container gets (its limits are the defaults and
   *  the most a deploy may ask), where its ports bind, how long it may take to stop. */
  tool: ToolSettings
  /** Host ports handed to tools that ask for none, or for one that is taken. */
  toolPorts: ToolPortPolicy
  pullTimeoutMs: number
  /** Recreate or restart what should run, stop what should not. */
  selfHeal: boolean
  resyncIntervalMs: number
  bodyLimitBytes: number
  /** A request (headers and body) must arrive within this; slow clients get a 408. */
  requestTimeoutMs: number
  /** Failed authentications per client address within the window before a 429. */
  authFailures: { limit: number; windowMs: number }
  /** Given certificate and key (PEM files); without them the agent makes its own and keeps it in the data dir. */
  tls?: { certFile: string; keyFile: string }
  /** More names and addresses for the agent's own certificate than the host's addresses, loopback and localhost. */
  tlsNames: string[]
  /** How long a SIGTERM waits for in-flight operations and shutdown steps. */
  shutdownTimeoutMs: number
  /** What GET /status and /system tell a caller without a valid token (minimal: nothing about tools). */
  publicStatus: 'full' | 'minimal'
  /** The tool network policy: enforced by the agent, or off by the operator's choice. */
  networkPolicy: { mode: 'enforce' | 'off'; resolveIntervalMs: number; iptables: string }
  /** GET /events clients at once (each may hold up to 1 MiB of backlog). */
  eventsMaxClients: number
  /** The audit trail's bounds (DTMA_AUDIT_MAX_ROWS, DTMA_AUDIT_MAX_AGE_S). */
  audit: { maxRows: number; maxAgeMs: number }
  /** The dtma_container_registry mirror, through the registry edge function
   *  with this toolbox's own token; absent when Supabase is not configured. */
  registry?: {
    supabaseUrl: string
    /** The project's public key (apikey header); the toolbox token when not given. */
    anonKey?: string
    /** This toolbox's account_tool_environments.id, written on every row when known. */
    environmentId?: string
    /** Longest wait between retries while Supabase fails. */
    retryMaxMs: number
  }
  heartbeat: { path: string; intervalMs: number }
  mcp: McpConfig
  /** POST /redeploy: the agent's own container (undefined: found by host name) and where backups go on the host. */
  upgrade: { agentContainer?: string; backupDir: string; dataVolume: string }
  /** At start, take over the containers an earlier agent labelled agentopia.mcp.*. */
  adoptLabelled: boolean
  logLevel: string
  /** What this build is: build-info.json of a release build, or the source tree's version. */
  version: string
  commit: string
}

export interface TokenSettings {
  /** DTMA_TOKEN_AUDIENCE; unset: dtma:<environmentId> (credentials/audience.ts). */
  audience?: string
  /** An authorization server's keys and its issuer. */
  jwks?: { url: string; issuer: string }
  maxLifetimeS: { default: number; mcp: number }
  clockSkewS: number
  acceptFleetKey: boolean
}

/** The settings of tool containers. The sandbox limits are the defaults and
 *  the most a deploy may ask. (The runtime's ToolSandbox is this shape: the
 *  composition root hands it over; config knows nothing of the runtime.) */
export interface ToolSettings {
  memoryBytes: number
  nanoCpus: number
  pidsLimit: number
  /** Capabilities kept after dropping all. */
  capAdd: string[]
  readonlyRootfs: boolean
  /** The tools' bridge network. */
  network: string
  /** Every tool port binds to this address (loopback unless a setting publishes them). */
  hostIp: string
  stopTimeoutSeconds: number
}


export interface ToolPortPolicy {
  first: number
  last: number
  /** Replace a requested host port that is the agent's own or another
   *  instance's by a free one of the range; off: such a request is a 409. */
  reassign: boolean
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** KEY=value lines (/etc/dtma.conf): one parser for the agent and the CLI, in the contract. */
export { parseConfFile }

function readConfFile(path: string, required: boolean): Record<string, string> {
  try {
    return parseConfFile(readFileSync(path, 'utf8'))
  } catch (error) {
    if (!required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`)
  }
}

/** Build the config from an environment (process.env in production). */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const filePath = env.DTMA_CONFIG_FILE ?? '/etc/dtma.conf'
  const merged: Record<string, string> = { ...readConfFile(filePath, env.DTMA_CONFIG_FILE !== undefined) }
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') merged[key] = value
  }
  const known = Object.fromEntries(Object.keys(ConfigSchema.properties).flatMap((key) => (key in merged ? [[key, merged[key]]] : [])))
  const converted = Value.Convert(ConfigSchema, known)
  const errors = Value.Errors(ConfigSchema, converted)
  if (errors.length > 0) {
    // Name the setting, never echo its value: it may be a token.
    const problems = errors.map((error) => `${error.instancePath.replace(/^\//, '') || 'config'}: ${error.message}`)
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`)
  }
  const ignoredSettings = Object.keys(RETIRED_SETTINGS).filter((key) => merged[key] !== undefined)
  return toConfig(converted as RawConfig, ignoredSettings)
}

/** Shorter tokens could be guessed; with the limiter serving valid tokens from any address, length is the defence. */
export const MIN_TOKEN_LENGTH = 32

function refuseShortTokens(raw: RawConfig): void {
  for (const setting of ['BACKEND_TO_DTMA_API_KEY', 'DTMA_BEARER_TOKEN', 'DTMA_AUTH_TOKEN'] as const) {
    const token = raw[setting]
    // Its length is named, never its value.
    if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
      throw new ConfigError(`${setting} is too short (${token.length} characters): an API token needs at least ${MIN_TOKEN_LENGTH}; make one with \`openssl rand -hex 32\``)
    }
  }
}

function toConfig(raw: RawConfig, ignoredSettings: string[]): Config {
  const vmToken = raw.DTMA_BEARER_TOKEN ?? raw.DTMA_AUTH_TOKEN
  const dataDir = raw.DTMA_DATA_DIR ?? '/var/lib/dtma'
  const tokens = tokenSettings(raw)
  // An enrolling or enrolled toolbox gets its secret from enrolment (enrolment/).
  const enrols = raw.DTMA_ENROLMENT_TOKEN !== undefined || existsSync(join(dataDir, TOOLBOX_CREDENTIALS_FILE))
  const fleetKeyAccepted = raw.BACKEND_TO_DTMA_API_KEY !== undefined && tokens.acceptFleetKey
  if (vmToken === undefined && tokens.jwks === undefined && !fleetKeyAccepted && !enrols) {
    throw new ConfigError(
      'no credential configured: set DTMA_ENROLMENT_TOKEN (with AGENTOPIA_API_BASE_URL), or DTMA_BEARER_TOKEN (or DTMA_AUTH_TOKEN in /etc/dtma.conf: the secret tokens are signed with), DTMA_JWKS_URL, or BACKEND_TO_DTMA_API_KEY with DTMA_ACCEPT_FLEET_KEY on; DTMA refuses to run without authentication'
    )
  }
  if (raw.DTMA_ENROLMENT_TOKEN !== undefined && raw.AGENTOPIA_API_BASE_URL === undefined) {
    throw new ConfigError('DTMA_ENROLMENT_TOKEN needs AGENTOPIA_API_BASE_URL: the functions URL where toolbox-enroll answers')
  }
  refuseShortTokens(raw)
  if ((raw.DTMA_TLS_CERT === undefined) !== (raw.DTMA_TLS_KEY === undefined)) {
    throw new ConfigError('DTMA_TLS_CERT and DTMA_TLS_KEY go together: set both for HTTPS, or neither')
  }
  const capAdd = raw.DTMA_TOOL_CAP_ADD ?? DEFAULT_CAP_ADD
  const [firstToolPort, lastToolPort] = (raw.DTMA_TOOL_PORT_RANGE ?? '30001-30999').split('-').map(Number) as [number, number]
  if (firstToolPort < 1 || lastToolPort > 65535 || firstToolPort > lastToolPort) {
    throw new ConfigError('DTMA_TOOL_PORT_RANGE: give FIRST-LAST with 1 <= FIRST <= LAST <= 65535')
  }
  return {
    port: raw.PORT ?? 30000,
    host: raw.HOST ?? '0.0.0.0',
    tokens,
    fleetKeyHashes: [],
    backendApiKey: raw.BACKEND_TO_DTMA_API_KEY,
    ...(raw.DTMA_ENROLMENT_TOKEN !== undefined && { enrolmentToken: raw.DTMA_ENROLMENT_TOKEN }),
    ignoredSettings,
    vmToken,
    ...(raw.ACCOUNT_TOOL_ENVIRONMENT_ID !== undefined && { environmentId: raw.ACCOUNT_TOOL_ENVIRONMENT_ID }),
    apiBaseUrl: raw.AGENTOPIA_API_BASE_URL,
    offlineMode: raw.OFFLINE_MODE ?? false,
    dataDir,
    dockerSocket: raw.DOCKER_SOCKET ?? '/var/run/docker.sock',
    scope: raw.DTMA_SCOPE ?? 'default',
    tool: {
      // Loopback: a tool's port is unauthenticated; callers reach MCP servers
      // through the agent's authenticated /tools/{name}/mcp.
      hostIp: raw.DTMA_TOOL_HOST_IP ?? '127.0.0.1',
      memoryBytes: (raw.DTMA_TOOL_MEMORY_MB ?? 512) * 1024 * 1024,
      pidsLimit: raw.DTMA_TOOL_PIDS_LIMIT ?? 256,
      nanoCpus: Math.round((raw.DTMA_TOOL_CPUS ?? 1) * 1e9),
      capAdd: capAdd === 'none' ? [] : capAdd.split(','),
      // Off by default: MCP servers started by npx or uvx write caches and
      // installs under / at start and fail on a read-only root.
      readonlyRootfs: raw.DTMA_TOOL_READONLY_ROOTFS ?? false,
      network: raw.DTMA_TOOL_NETWORK ?? 'dtma-tools',
      stopTimeoutSeconds: raw.DTMA_STOP_TIMEOUT_S ?? 10
    },
    toolPorts: { first: firstToolPort, last: lastToolPort, reassign: raw.DTMA_TOOL_PORT_REASSIGN ?? true },
    pullTimeoutMs: raw.DTMA_PULL_TIMEOUT_MS ?? 10 * 60 * 1000,
    selfHeal: raw.DTMA_SELF_HEAL ?? true,
    resyncIntervalMs: (raw.DTMA_RESYNC_INTERVAL_S ?? 60) * 1000,
    bodyLimitBytes: raw.DTMA_BODY_LIMIT_BYTES ?? 1024 * 1024,
    requestTimeoutMs: (raw.DTMA_REQUEST_TIMEOUT_S ?? 30) * 1000,
    authFailures: { limit: raw.DTMA_AUTH_FAILURE_LIMIT ?? 10, windowMs: (raw.DTMA_AUTH_FAILURE_WINDOW_S ?? 60) * 1000 },
    tlsNames: (raw.DTMA_TLS_NAMES ?? '').split(',').map((name) => name.trim()).filter(Boolean),
    ...(raw.DTMA_TLS_CERT !== undefined && raw.DTMA_TLS_KEY !== undefined && { tls: { certFile: raw.DTMA_TLS_CERT, keyFile: raw.DTMA_TLS_KEY } }),
    // Below the 10 s a `docker stop` of the agent's own container waits.
    shutdownTimeoutMs: (raw.DTMA_SHUTDOWN_TIMEOUT_S ?? 8) * 1000,
    // Strangers learn liveness, version and the machine's metrics, nothing about tools.
    publicStatus: raw.DTMA_PUBLIC_STATUS ?? 'minimal',
    networkPolicy: { mode: raw.DTMA_NETWORK_POLICY ?? 'enforce', resolveIntervalMs: (raw.DTMA_EGRESS_RESOLVE_INTERVAL_S ?? 300) * 1000, iptables: raw.DTMA_IPTABLES ?? 'iptables' },
    eventsMaxClients: raw.DTMA_EVENTS_MAX_CLIENTS ?? 64,
    audit: { maxRows: raw.DTMA_AUDIT_MAX_ROWS ?? 100_000, maxAgeMs: (raw.DTMA_AUDIT_MAX_AGE_S ?? 30 * 86400) * 1000 },
    ...(raw.SUPABASE_URL !== undefined && {
        registry: {
          supabaseUrl: raw.SUPABASE_URL,
          ...(raw.SUPABASE_ANON_KEY !== undefined && { anonKey: raw.SUPABASE_ANON_KEY }),
          ...(raw.ACCOUNT_TOOL_ENVIRONMENT_ID !== undefined && { environmentId: raw.ACCOUNT_TOOL_ENVIRONMENT_ID }),
          retryMaxMs: (raw.DTMA_REGISTRY_RETRY_MAX_S ?? 10) * 1000
        }
      }),
    heartbeat: { path: raw.DTMA_HEARTBEAT_PATH ?? '/heartbeat', intervalMs: (raw.DTMA_HEARTBEAT_INTERVAL_S ?? 60) * 1000 },
    mcp: {
      pingIntervalMs: (raw.DTMA_MCP_PING_INTERVAL_S ?? 15) * 1000,
      pingFailures: raw.DTMA_MCP_PING_FAILURES ?? 3,
      // npx and uvx servers download their package at start: give them time.
      startTimeoutMs: (raw.DTMA_MCP_START_TIMEOUT_S ?? 120) * 1000,
      restartBackoffMaxMs: (raw.DTMA_MCP_RESTART_BACKOFF_MAX_S ?? 300) * 1000,
      maxMessageBytes: raw.DTMA_MCP_MAX_MESSAGE_BYTES ?? 4 * 1024 * 1024,
      maxSessions: raw.DTMA_MCP_MAX_SESSIONS ?? 1000,
      sessionIdleMs: (raw.DTMA_MCP_SESSION_IDLE_S ?? 1800) * 1000,
      allowedOrigins: (raw.DTMA_MCP_ALLOWED_ORIGINS ?? '').split(',').map((origin) => origin.trim()).filter(Boolean),
      admitNewTools: raw.DTMA_MCP_ADMIT_NEW_TOOLS ?? false
    },
    adoptLabelled: raw.DTMA_ADOPT_LABELLED ?? true,
    upgrade: { ...(raw.DTMA_AGENT_CONTAINER !== undefined && { agentContainer: raw.DTMA_AGENT_CONTAINER }), backupDir: raw.DTMA_BACKUP_DIR ?? '/var/backups/dtma', dataVolume: raw.DTMA_DATA_VOLUME ?? 'dtma-data' },
    logLevel: raw.LOG_LEVEL ?? 'info',
    ...readBuildInfo()
  }
}

function tokenSettings(raw: RawConfig): TokenSettings {
  if ((raw.DTMA_JWKS_URL === undefined) !== (raw.DTMA_TOKEN_ISSUER === undefined)) {
    throw new ConfigError('DTMA_JWKS_URL and DTMA_TOKEN_ISSUER go together: an authorization server is trusted only for the tokens it issues under its name')
  }
  if (raw.DTMA_JWKS_URL !== undefined && raw.DTMA_TOKEN_AUDIENCE === undefined && raw.ACCOUNT_TOOL_ENVIRONMENT_ID === undefined) {
    throw new ConfigError('DTMA_JWKS_URL needs DTMA_TOKEN_AUDIENCE or ACCOUNT_TOOL_ENVIRONMENT_ID: an authorization server serves many toolboxes, the audience says which one a token is for')
  }
  return {
    ...(raw.DTMA_TOKEN_AUDIENCE !== undefined && { audience: raw.DTMA_TOKEN_AUDIENCE }),
    ...(raw.DTMA_JWKS_URL !== undefined && raw.DTMA_TOKEN_ISSUER !== undefined && { jwks: { url: raw.DTMA_JWKS_URL, issuer: raw.DTMA_TOKEN_ISSUER } }),
    maxLifetimeS: { default: raw.DTMA_TOKEN_MAX_LIFETIME_S ?? TOKEN_MAX_LIFETIME_S.default, mcp: raw.DTMA_MCP_TOKEN_MAX_LIFETIME_S ?? TOKEN_MAX_LIFETIME_S.mcp },
    clockSkewS: raw.DTMA_TOKEN_CLOCK_SKEW_S ?? TOKEN_CLOCK_SKEW_S,
    // On for the deployed backend, which still calls with the fleet key: the thing to turn off (docs/operations.md).
    acceptFleetKey: raw.DTMA_ACCEPT_FLEET_KEY ?? true
  }
}
