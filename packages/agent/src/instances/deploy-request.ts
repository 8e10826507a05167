// A deploy body as Agentopia's callers really send it, turned into the spec
// of the instance it asks for. The override may be null, Docker-shaped,
// service-shaped or both mixed (see @dtma/contract BaseConfigOverride): both
// shapes are merged, harmless sloppiness is accepted, every key the agent
// does not apply is named in a warning, and a Docker field that would widen
// the sandbox is refused with a 400 naming it.
import { BaseConfigOverride, MAX_ENV_TOTAL_CHARS, ResourceLimitsRequest, type DeployToolBody, type McpSettings } from '@dtma/contract'
import type { Logger } from 'pino'
import { DtmaError } from '../errors.ts'
import { hostAddresses, parseAllowList, type Egress } from '../model/egress.ts'
import type { InstanceMetadata, InstanceSpec, McpCredential } from '../model/instance-spec.ts'
import type { PortBinding, ResourceLimits } from '../runtime/types.ts'
import { assertReachableName } from './instance-name.ts'
import { limitsFromRequest } from './resource-limits.ts'
import { specHash } from './spec.ts'

export interface DeployRequest {
  /** The spec as asked: a port's host_port is the asked one, 0 for "any port of the tool range". */
  spec: InstanceSpec
  /** Hash of the asked spec: the same request again is the same deploy. */
  hash: string
  warnings: string[]
  /** Override keys that were ignored, for the log. */
  ignoredKeys: string[]
  forcePull: boolean
}

export interface DeployRules {
  /** Every tool port binds to this address. */
  hostIp: string
  /** The most a deploy may ask. */
  maxima: ResourceLimits
}

const OVERRIDE_KEYS = new Set(Object.keys(BaseConfigOverride.properties))
const LIMIT_KEYS = new Set(Object.keys(ResourceLimitsRequest.properties))
/** Warnings name this many ignored keys, then count the rest. */
const NAMED_KEYS_MAX = 10
const DEFAULT_MCP_ENDPOINT = '/mcp'

const OVERRIDE = 'baseConfigOverrideJson'
/** Headers of every request to an MCP server that DTMA sets itself. */
const RESERVED_HEADERS = new Set(['host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'accept', 'last-event-id', 'origin', 'cookie'])
/** Ignored override keys are logged once each; past this many distinct keys, no more. */
const LOGGED_KEYS_MAX = 256

/** A key as a sentence may show it: short, printable, never a whole hostile string. */
function shownKey(key: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(key) ? key : `${JSON.stringify(key.slice(0, 64))}${key.length > 64 ? '…' : ''}`
}

function ignoredWarning(where: string, keys: string[]): string[] {
  if (keys.length === 0) return []
  const named = keys.slice(0, NAMED_KEYS_MAX).map(shownKey).join(', ')
  const more = keys.length > NAMED_KEYS_MAX ? ` and ${keys.length - NAMED_KEYS_MAX} more` : ''
  return [`${where}: ${named}${more} ${keys.length === 1 ? 'is' : 'are'} not a setting DTMA knows: ignored`]
}

/** Unknown override keys: a Docker field (capitalised, as Docker spells
 *  them) would have to be applied to the container, so it is refused; any
 *  other key is ignored and named. */
function unknownOverrideKeys(override: Record<string, unknown>): string[] {
  const unknown = Object.keys(override).filter((key) => !OVERRIDE_KEYS.has(key))
  const dockerField = unknown.find((key) => /^[A-Z]/.test(key))
  if (dockerField !== undefined) {
    throw new DtmaError(
      'invalid',
      `${OVERRIDE}.${shownKey(dockerField)}: DTMA does not let a caller set this Docker field; of Docker's options only Env and HostConfig.PortBindings are taken (the rest of the container is DTMA's sandbox)`
    )
  }
  return unknown
}

/** Env entries first (Docker's shape wins), then environmentVariables not set there. */
function envFromOverride(override: NonNullable<DeployToolBody['baseConfigOverrideJson']>, warnings: string[]): string[] {
  const env = [...(override.Env ?? [])]
  const inEnv = new Map(env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]))
  for (const [key, value] of Object.entries(override.environmentVariables ?? {})) {
    const text = String(value)
    const set = inEnv.get(key)
    if (set === undefined) env.push(`${key}=${text}`)
    else if (set !== text) warnings.push(`environment variable ${key} is set in both ${OVERRIDE}.Env and ${OVERRIDE}.environmentVariables with different values: the Env value is used`)
  }
  const total = env.reduce((sum, entry) => sum + entry.length, 0)
  if (total > MAX_ENV_TOTAL_CHARS) {
    throw new DtmaError('invalid', `${OVERRIDE}: the environment holds ${total} characters in all, at most ${MAX_ENV_TOTAL_CHARS} are allowed`)
  }
  return env
}

function portNumber(value: string | number | null | undefined): number {
  return value === undefined || value === null || value === '' ? 0 : Number(value)
}

/** HostConfig.PortBindings and portMappings as one list; host_port 0: any port of the tool range. */
function portsFromOverride(override: NonNullable<DeployToolBody['baseConfigOverrideJson']>, hostIp: string): PortBinding[] {
  const asked: Array<{ where: string; containerPort: number; protocol: string; hostPort: number }> = []
  for (const [key, bindings] of Object.entries(override.HostConfig?.PortBindings ?? {})) {
    const [containerPort, protocol = 'tcp'] = key.split('/') as [string, string?]
    for (const binding of bindings) asked.push({ where: `${OVERRIDE}.HostConfig.PortBindings['${key}']`, containerPort: Number(containerPort), protocol, hostPort: portNumber(binding.HostPort) })
  }
  for (const [index, mapping] of (override.portMappings ?? []).entries()) {
    asked.push({ where: `${OVERRIDE}.portMappings[${index}]`, containerPort: Number(mapping.containerPort), protocol: (mapping.protocol ?? 'tcp').toLowerCase(), hostPort: portNumber(mapping.hostPort) })
  }
  const ports = new Map<string, PortBinding>()
  const explicitHostPorts = new Set<string>()
  for (const { where, containerPort, protocol, hostPort } of asked) {
    for (const [field, port, min] of [['container port', containerPort, 1], ['host port', hostPort, 0]] as const) {
      if (!Number.isInteger(port) || port < min || port > 65535) throw new DtmaError('invalid', `${where}: ${field} must be between ${min} and 65535`)
    }
    // The two shapes often say the same thing twice: once is enough.
    const key = `${containerPort}/${protocol}>${hostPort}`
    if (ports.has(key)) continue
    if (hostPort !== 0) {
      const hostKey = `${hostPort}/${protocol}`
      if (explicitHostPorts.has(hostKey)) throw new DtmaError('invalid', `${where}: host port ${hostKey} is bound twice`)
      explicitHostPorts.add(hostKey)
    }
    ports.set(key, { container_port: containerPort, protocol, host_ip: hostIp, host_port: hostPort })
  }
  return [...ports.values()].sort((a, b) => a.host_port - b.host_port || a.protocol.localeCompare(b.protocol) || a.container_port - b.container_port)
}

function mcpFromOverride(override: NonNullable<DeployToolBody['baseConfigOverrideJson']>, ports: PortBinding[], warnings: string[]): McpSettings | undefined {
  if (override.mcpTransport === undefined || override.mcpTransport === null) {
    const orphans = (['mcpEndpoint', 'mcpPort', 'mcpCapabilities', 'mcpHost', 'mcpAuth', 'drift'] as const).filter((key) => override[key] !== undefined && override[key] !== null)
    if (orphans.length > 0) warnings.push(`${OVERRIDE}: ${orphans.join(', ')} ${orphans.length === 1 ? 'is' : 'are'} ignored without mcpTransport (the instance is not an MCP server)`)
    return undefined
  }
  const askedPort = override.mcpPort === undefined || override.mcpPort === null ? undefined : Number(override.mcpPort)
  if (askedPort !== undefined && (askedPort < 1 || askedPort > 65535)) throw new DtmaError('invalid', `${OVERRIDE}.mcpPort must be between 1 and 65535`)
  const port = askedPort ?? (override.mcpTransport === 'stdio' ? undefined : ports[0]?.container_port)
  const host = override.mcpHost ?? undefined
  if (override.mcpTransport === 'stdio') {
    const unused = (['mcpHost', 'mcpAuth'] as const).filter((key) => override[key] !== undefined && override[key] !== null)
    if (unused.length > 0) warnings.push(`${OVERRIDE}: ${unused.join(', ')} ${unused.length === 1 ? 'is' : 'are'} ignored for a stdio server (it is reached through its container's stdin)`)
  }
  return {
    transport: override.mcpTransport,
    endpoint: override.mcpEndpoint ?? DEFAULT_MCP_ENDPOINT,
    port: port ?? null,
    capabilities: override.mcpCapabilities ?? [],
    ...(host !== undefined && override.mcpTransport !== 'stdio' && { host }),
    // The default (lock) is left out: instances deployed before the drift lock keep their spec hash.
    ...(override.drift === 'auto-approve' && { drift: 'auto-approve' as const })
  }
}

/** The deploy's credential for its http or sse server; header names the
 *  agent sets itself (Host, the MCP headers, framing) are refused. */
function credentialFromOverride(override: NonNullable<DeployToolBody['baseConfigOverrideJson']>, mcp: McpSettings | undefined): McpCredential | undefined {
  const auth = override.mcpAuth
  if (auth === undefined || auth === null || mcp === undefined || mcp.transport === 'stdio') return undefined
  if ('bearer' in auth) return { header: 'authorization', value: `Bearer ${auth.bearer}` }
  const header = auth.header.toLowerCase()
  if (RESERVED_HEADERS.has(header) || header.startsWith('mcp-') || header.startsWith('proxy-')) {
    throw new DtmaError('invalid', `${OVERRIDE}.mcpAuth.header: ${shownKey(auth.header)} is set by DTMA itself; name the header the server reads its credential from`)
  }
  return { header, value: auth.value }
}

function metadataFromOverride(override: NonNullable<DeployToolBody['baseConfigOverrideJson']>): InstanceMetadata | undefined {
  const entries = (['templateId', 'environment', 'configuration'] as const).filter((key) => override[key] !== undefined && override[key] !== null).map((key) => [key, override[key]])
  return entries.length === 0 ? undefined : Object.fromEntries(entries)
}

/** The deploy's egress; `internet` when not set. Each allow entry is checked (a 400 names a bad one). */
function egressFromOverride(override: NonNullable<DeployToolBody['baseConfigOverrideJson']>): Egress {
  const asked = override.egress ?? 'internet'
  if (typeof asked === 'string') return asked
  try {
    parseAllowList(asked.allow, hostAddresses(), `${OVERRIDE}.egress.allow`)
  } catch (error) {
    throw new DtmaError('invalid', (error as Error).message)
  }
  return { allow: [...asked.allow] }
}

export function parseDeployRequest(body: DeployToolBody, rules: DeployRules): DeployRequest {
  assertReachableName(body.instanceNameOnToolbox)
  const override = body.baseConfigOverrideJson ?? {}
  const ignoredKeys = unknownOverrideKeys(override)
  const ignoredLimitKeys = Object.keys(override.resourceLimits ?? {}).filter((key) => !LIMIT_KEYS.has(key))
  const warnings = [...ignoredWarning(OVERRIDE, ignoredKeys), ...ignoredWarning(`${OVERRIDE}.resourceLimits`, ignoredLimitKeys)]
  if (override.dockerImage !== undefined && override.dockerImage !== null && override.dockerImage !== body.dockerImageUrl) {
    warnings.push(`${OVERRIDE}.dockerImage ${JSON.stringify(override.dockerImage.slice(0, 200))} differs from dockerImageUrl: ${body.dockerImageUrl} is deployed`)
  }
  const env = envFromOverride(override, warnings)
  const ports = portsFromOverride(override, rules.hostIp)
  const mcp = mcpFromOverride(override, ports, warnings)
  const mcpAuth = credentialFromOverride(override, mcp)
  const { limits, warnings: limitWarnings } = limitsFromRequest(override.resourceLimits, rules.maxima)
  warnings.push(...limitWarnings)
  const metadata = metadataFromOverride(override)
  const egress = egressFromOverride(override)
  const spec: InstanceSpec = {
    instanceName: body.instanceNameOnToolbox,
    accountToolInstanceId: body.accountToolInstanceId,
    image: body.dockerImageUrl,
    env,
    ports,
    ...(mcp !== undefined && { mcp }),
    ...(mcpAuth !== undefined && { mcpAuth }),
    ...(limits !== undefined && { limits }),
    ...(metadata !== undefined && { metadata }),
    ...(egress !== 'internet' && { egress })
  }
  return { spec, hash: specHash(spec), warnings, ignoredKeys: [...ignoredKeys, ...ignoredLimitKeys.map((key) => `resourceLimits.${key}`)], forcePull: body.forcePull === true }
}

/** Logs the override keys a deploy ignored, once per key: a caller's habit
 *  is told once, not on every deploy. */
export class IgnoredKeysLog {
  private readonly logged = new Set<string>()

  constructor(private readonly logger: Logger) {}

  note(request: DeployRequest): void {
    const fresh = request.ignoredKeys.filter((key) => !this.logged.has(key))
    if (fresh.length === 0 || this.logged.size >= LOGGED_KEYS_MAX) return
    for (const key of fresh) this.logged.add(key)
    this.logger.warn({ instanceName: request.spec.instanceName, ignoredKeys: fresh.slice(0, 20) }, 'deploy override keys DTMA does not know were ignored (logged once per key)')
  }
}
