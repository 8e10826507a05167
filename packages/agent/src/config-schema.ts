// The settings DTMA reads (environment or /etc/dtma.conf), as a schema: each
// key's type and bounds. config.ts validates against it and builds the Config.
import Type, { type Static } from 'typebox'

const Port = Type.Integer({ minimum: 1, maximum: 65535 })
const Flag = Type.Boolean()

/** Capabilities a tool may be given back after all are dropped: Docker's own
 *  default set without MKNOD, so no setting can widen the sandbox beyond an
 *  ordinary `docker run` (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, ... never). */
export const GRANTABLE_CAPABILITIES = [
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'NET_BIND_SERVICE',
  'NET_RAW', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT'
] as const
const CAPABILITY = `(?:${GRANTABLE_CAPABILITIES.join('|')})`
/** Entrypoints that drop root for a service user (gosu, su-exec, setpriv)
 *  need SETUID/SETGID and often chown their data dir first; tools that listen
 *  below 1024 need NET_BIND_SERVICE. Everything else stays dropped. */
export const DEFAULT_CAP_ADD = 'CHOWN,SETUID,SETGID,NET_BIND_SERVICE'

/** Settings the agent no longer reads: a toolbox that still sets one starts,
 *  ignores it and says so (the name only, never the value). */
export const RETIRED_SETTINGS = {
  SUPABASE_SERVICE_ROLE_KEY: 'the registry is written through the registry edge function with this toolbox\'s own token; remove the service-role key from this toolbox'
} as const

/** Where an enrolled toolbox keeps its credentials, in its data dir (mode 0600). */
export const TOOLBOX_CREDENTIALS_FILE = 'toolbox-credentials.json'

export const ConfigSchema = Type.Object({
  PORT: Type.Optional(Port),
  HOST: Type.Optional(Type.String({ minLength: 1 })),
  BACKEND_TO_DTMA_API_KEY: Type.Optional(Type.String({ minLength: 1 })),
  DTMA_BEARER_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  /** The name /etc/dtma.conf uses for the per-VM token. */
  DTMA_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1 })),
  AGENTOPIA_API_BASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  OFFLINE_MODE: Type.Optional(Flag),
  DTMA_CONFIG_FILE: Type.Optional(Type.String()),
  DTMA_DATA_DIR: Type.Optional(Type.String({ minLength: 1 })),
  DOCKER_SOCKET: Type.Optional(Type.String({ minLength: 1 })),
  DTMA_SCOPE: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,62}$' })),
  DTMA_TOOL_HOST_IP: Type.Optional(Type.String({ minLength: 1 })),
  /** FIRST-LAST, e.g. 30001-30999. */
  DTMA_TOOL_PORT_RANGE: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}-[0-9]{1,5}$' })),
  DTMA_TOOL_PORT_REASSIGN: Type.Optional(Flag),
  DTMA_TOOL_MEMORY_MB: Type.Optional(Type.Integer({ minimum: 16 })),
  DTMA_TOOL_PIDS_LIMIT: Type.Optional(Type.Integer({ minimum: 8 })),
  DTMA_TOOL_CPUS: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  /** Comma list, or `none`. */
  DTMA_TOOL_CAP_ADD: Type.Optional(Type.String({ pattern: `^(?:none|${CAPABILITY}(?:,${CAPABILITY})*)$` })),
  DTMA_TOOL_READONLY_ROOTFS: Type.Optional(Flag),
  /** Never `host` or `none`: tools get their own bridge. */
  DTMA_TOOL_NETWORK: Type.Optional(Type.String({ pattern: '^(?!(?:host|none)$)[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$' })),
  DTMA_STOP_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
  DTMA_PULL_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 1000 })),
  DTMA_BODY_LIMIT_BYTES: Type.Optional(Type.Integer({ minimum: 1024 })),
  DTMA_REQUEST_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
  DTMA_AUTH_FAILURE_LIMIT: Type.Optional(Type.Integer({ minimum: 1 })),
  DTMA_AUTH_FAILURE_WINDOW_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  DTMA_TLS_CERT: Type.Optional(Type.String({ minLength: 1 })),
  DTMA_TLS_KEY: Type.Optional(Type.String({ minLength: 1 })),
  /** More names and addresses for the agent's own certificate (comma list): a DNS name, a NAT'd public address. */
  DTMA_TLS_NAMES: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9.:*-]+( *, *[A-Za-z0-9.:*-]+)*$' })),
  DTMA_SHUTDOWN_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
  DTMA_SELF_HEAL: Type.Optional(Flag),
  DTMA_RESYNC_INTERVAL_S: Type.Optional(Type.Integer({ minimum: 1 })),
  /** GET /events clients at once; one more gets a 503 with Retry-After. */
  DTMA_EVENTS_MAX_CLIENTS: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  /** The audit trail of MCP calls keeps at most this many rows (the oldest go first) ... */
  DTMA_AUDIT_MAX_ROWS: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  /** ... and none older than this. */
  DTMA_AUDIT_MAX_AGE_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 * 365 * 86400 })),
  /** enforce (default): the agent installs the tool network policy, or refuses to run tools; off: the operator's choice. */
  DTMA_NETWORK_POLICY: Type.Optional(Type.Union([Type.Literal('enforce'), Type.Literal('off')])),
  /** How often the host names of egress allow lists are resolved again. */
  DTMA_EGRESS_RESOLVE_INTERVAL_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  /** The iptables program the policy writes with (ip6tables and the -restore programs are named after it). */
  DTMA_IPTABLES: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_./-]{1,256}$' })),
  DTMA_PUBLIC_STATUS: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('minimal')])),
  /** The aud a token must carry; default dtma:<ACCOUNT_TOOL_ENVIRONMENT_ID> (toolboxAudience). */
  DTMA_TOKEN_AUDIENCE: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  /** An authorization server's keys (JWKS): its tokens (asymmetric algorithms only) are accepted beside the toolbox's own. */
  DTMA_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
  /** The iss the authorization server's tokens carry (required with DTMA_JWKS_URL). */
  DTMA_TOKEN_ISSUER: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  /** Longest lifetime (exp - iat) of a token with any scope but mcp. */
  DTMA_TOKEN_MAX_LIFETIME_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
  /** Longest lifetime of a token that holds only mcp. */
  DTMA_MCP_TOKEN_MAX_LIFETIME_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86400 })),
  /** Clock difference tolerated on iat, nbf and exp. */
  DTMA_TOKEN_CLOCK_SKEW_S: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })),
  /** The fleet key (BACKEND_TO_DTMA_API_KEY) as a bearer for tools:read and tools:write; on until the backend signs tokens. */
  DTMA_ACCEPT_FLEET_KEY: Type.Optional(Flag),
  /** Single-use: exchanged at first start for this toolbox's credentials (kept in the data dir). */
  DTMA_ENROLMENT_TOKEN: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  SUPABASE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  /** The project's public (anon) key, sent as apikey to the registry function; the toolbox token authenticates. */
  SUPABASE_ANON_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ACCOUNT_TOOL_ENVIRONMENT_ID: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' })),
  DTMA_REGISTRY_RETRY_MAX_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  DTMA_HEARTBEAT_PATH: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9/_.-]*$' })),
  DTMA_HEARTBEAT_INTERVAL_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  DTMA_MCP_PING_INTERVAL_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  DTMA_MCP_PING_FAILURES: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  DTMA_MCP_START_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600 })),
  DTMA_MCP_RESTART_BACKOFF_MAX_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })),
  DTMA_MCP_MAX_MESSAGE_BYTES: Type.Optional(Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 })),
  DTMA_MCP_MAX_SESSIONS: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  DTMA_MCP_SESSION_IDLE_S: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86400 })),
  /** Comma list of exact origins, `*`, or empty (none). */
  DTMA_MCP_ALLOWED_ORIGINS: Type.Optional(Type.String({ maxLength: 4096 })),
  /** The drift lock admits (pins) tools that appear after approval instead of withholding them; default off. */
  DTMA_MCP_ADMIT_NEW_TOOLS: Type.Optional(Flag),
  /** At start, take over the containers an earlier agent labelled agentopia.mcp.*. */
  DTMA_ADOPT_LABELLED: Type.Optional(Flag),
  /** The agent's own container, for POST /redeploy; default the one whose id is the host name. */
  DTMA_AGENT_CONTAINER: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$' })),
  /** The named volume an upgrade keeps the store on. */
  DTMA_DATA_VOLUME: Type.Optional(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$' })),
  /** Host directory an upgrade writes its backups into. */
  DTMA_BACKUP_DIR: Type.Optional(Type.String({ pattern: '^/[^:,]*$' })),
  LOG_LEVEL: Type.Optional(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)))
  )
})
export type RawConfig = Static<typeof ConfigSchema>
