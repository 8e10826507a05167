// Every DTMA setting, read and validated once at start into a typed object.
// Sources: the process environment, then the optional /etc/dtma.conf
// (KEY=value lines); the environment wins. Nothing else reads process.env.
import { readFileSync } from 'node:fs'
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'

const Port = Type.Integer({ minimum: 1, maximum: 65535 })
const Flag = Type.Boolean()

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
  DTMA_TOOL_MEMORY_MB: Type.Optional(Type.Integer({ minimum: 16 })),
  DTMA_TOOL_PIDS_LIMIT: Type.Optional(Type.Integer({ minimum: 8 })),
  DTMA_TOOL_CPUS: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  DTMA_STOP_TIMEOUT_S: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
  DTMA_PULL_TIMEOUT_MS: Type.Optional(Type.Integer({ minimum: 1000 })),
  DTMA_BODY_LIMIT_BYTES: Type.Optional(Type.Integer({ minimum: 1024 })),
  DTMA_SELF_HEAL: Type.Optional(Flag),
  DTMA_RESYNC_INTERVAL_S: Type.Optional(Type.Integer({ minimum: 1 })),
  DTMA_PUBLIC_STATUS: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('minimal')])),
  LOG_LEVEL: Type.Optional(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level)))
  )
})
type RawConfig = Static<typeof ConfigSchema>

export interface Config {
  port: number
  host: string
  /** Every token accepted on bearer routes (backend key and per-VM token). */
  apiTokens: string[]
  backendApiKey?: string
  vmToken?: string
  apiBaseUrl?: string
  offlineMode: boolean
  dataDir: string
  dockerSocket: string
  /** Labels this agent's containers; another scope's are never touched. */
  scope: string
  tool: {
    hostIp: string
    memoryBytes: number
    pidsLimit: number
    nanoCpus: number
    stopTimeoutSeconds: number
  }
  pullTimeoutMs: number
  /** Recreate or restart what should run, stop what should not. */
  selfHeal: boolean
  resyncIntervalMs: number
  bodyLimitBytes: number
  publicStatus: 'full' | 'minimal'
  logLevel: string
  version: string
}

export const DTMA_VERSION = '0.1.0'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** KEY=value lines; blank lines and # comments skipped; quotes stripped. */
export function parseConfFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line)
    if (!match || line.trimStart().startsWith('#')) continue
    const [, key, rawValue] = match as unknown as [string, string, string]
    values[key] = rawValue.replace(/^(['"])(.*)\1$/, '$2')
  }
  return values
}

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
  return toConfig(converted as RawConfig)
}

function toConfig(raw: RawConfig): Config {
  const vmToken = raw.DTMA_BEARER_TOKEN ?? raw.DTMA_AUTH_TOKEN
  const apiTokens = [raw.BACKEND_TO_DTMA_API_KEY, vmToken].filter((token): token is string => token !== undefined)
  if (apiTokens.length === 0) {
    throw new ConfigError(
      'no API token configured: set BACKEND_TO_DTMA_API_KEY or DTMA_BEARER_TOKEN (or DTMA_AUTH_TOKEN in /etc/dtma.conf); DTMA refuses to run without authentication'
    )
  }
  return {
    port: raw.PORT ?? 30000,
    host: raw.HOST ?? '0.0.0.0',
    apiTokens,
    backendApiKey: raw.BACKEND_TO_DTMA_API_KEY,
    vmToken,
    apiBaseUrl: raw.AGENTOPIA_API_BASE_URL,
    offlineMode: raw.OFFLINE_MODE ?? false,
    dataDir: raw.DTMA_DATA_DIR ?? '/var/lib/dtma',
    dockerSocket: raw.DOCKER_SOCKET ?? '/var/run/docker.sock',
    scope: raw.DTMA_SCOPE ?? 'default',
    tool: {
      hostIp: raw.DTMA_TOOL_HOST_IP ?? '0.0.0.0',
      memoryBytes: (raw.DTMA_TOOL_MEMORY_MB ?? 512) * 1024 * 1024,
      pidsLimit: raw.DTMA_TOOL_PIDS_LIMIT ?? 256,
      nanoCpus: Math.round((raw.DTMA_TOOL_CPUS ?? 1) * 1e9),
      stopTimeoutSeconds: raw.DTMA_STOP_TIMEOUT_S ?? 10
    },
    pullTimeoutMs: raw.DTMA_PULL_TIMEOUT_MS ?? 10 * 60 * 1000,
    selfHeal: raw.DTMA_SELF_HEAL ?? true,
    resyncIntervalMs: (raw.DTMA_RESYNC_INTERVAL_S ?? 60) * 1000,
    bodyLimitBytes: raw.DTMA_BODY_LIMIT_BYTES ?? 1024 * 1024,
    publicStatus: raw.DTMA_PUBLIC_STATUS ?? 'full',
    logLevel: raw.LOG_LEVEL ?? 'info',
    version: DTMA_VERSION
  }
}
