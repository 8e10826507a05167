// The new agent container, made from the running one: the same settings the
// operator gave it (its env and labels less what its image set, port
// bindings, mounts such as the Docker socket, restart policy, network, log
// settings, capabilities, limits, extra hosts, DNS, user and host name) with
// the new image, and the store on a named data volume (the
// production line has none: the store would be lost with the container).
// Pure: it reads the old container and says what to make, where the agent
// is reached, and with what it may be asked (a token signed with its secret).
import { audienceOf, signToolboxToken } from '@dtma/contract'
import type { AgentContainer, AgentContainerSpec, AgentImage } from '../../runtime/agent-host.ts'

export const DEFAULT_DATA_DIR = '/var/lib/dtma'
export const DEFAULT_AGENT_PORT = 30000

/** An anonymous volume's name: what Docker makes for an image's VOLUME with no -v. */
const ANONYMOUS_VOLUME = /^[0-9a-f]{64}$/

export function envValue(env: readonly string[], key: string): string | undefined {
  const entry = env.find((item) => item.startsWith(`${key}=`))
  return entry === undefined ? undefined : entry.slice(key.length + 1)
}

/** The env the operator gave the container: its own less what its image sets. */
export function operatorEnv(container: AgentContainer, image: AgentImage | undefined): string[] {
  const set = new Set(image?.env ?? [])
  return container.env.filter((entry) => !set.has(entry))
}

export function dataDirOf(container: AgentContainer): string {
  return envValue(container.env, 'DTMA_DATA_DIR') ?? DEFAULT_DATA_DIR
}

/** Where the store lives: kept where the operator put it (a named volume or
 *  a host directory), else on the named data volume. */
export function dataMount(container: AgentContainer, volume: string): { bind: string; named: boolean } {
  const dataDir = dataDirOf(container)
  const mount = container.mounts.find((item) => item.destination === dataDir)
  if (mount !== undefined && (mount.type === 'bind' || (mount.type === 'volume' && !ANONYMOUS_VOLUME.test(mount.source)))) {
    return { bind: `${mount.source}:${dataDir}`, named: false }
  }
  return { bind: `${volume}:${dataDir}`, named: true }
}

export function newAgentSpec(old: AgentContainer, oldImage: AgentImage | undefined, newImage: AgentImage, reference: string, volume: string): AgentContainerSpec {
  const dataDir = dataDirOf(old)
  const imageLabels = oldImage?.labels ?? {}
  const binds = old.binds.filter((bind) => bind.split(':')[1] !== dataDir)
  return {
    name: old.name,
    image: reference,
    env: operatorEnv(old, oldImage),
    labels: Object.fromEntries(Object.entries(old.labels).filter(([key, value]) => imageLabels[key] !== value)),
    exposedPorts: [...new Set([...newImage.exposedPorts, ...Object.keys(old.portBindings)])],
    portBindings: old.portBindings,
    binds: [...binds, dataMount(old, volume).bind],
    restartPolicy: old.restartPolicy.Name === '' || old.restartPolicy.Name === 'no' ? { Name: 'always' } : old.restartPolicy,
    networkMode: old.networkMode,
    ...(old.logConfig !== undefined && { logConfig: old.logConfig }),
    host: withPolicyCapability(carriedHost(old, dataDir), old.networkMode),
    // A user the image sets is the new image's to choose.
    ...(old.carried.user !== (oldImage?.user ?? '') && { user: old.carried.user }),
    ...(hasOwnHostname(old) && { hostname: old.carried.hostname })
  }
}

/** The old container's carried HostConfig; a --mount on the store's path is replaced by the data mount. */
function carriedHost(old: AgentContainer, dataDir: string): Record<string, unknown> {
  const { Mounts: mounts, ...rest } = old.carried.host
  const kept = ((mounts as Array<{ Target?: string }> | undefined) ?? []).filter((mount) => mount.Target !== dataDir)
  return kept.length > 0 ? { ...rest, Mounts: kept } : rest
}

/** On the host's network the agent installs the tool network policy in the host's iptables: an agent
 *  made by an older provisioning line gets NET_ADMIN with its upgrade (elsewhere it would only reach
 *  its own container's tables). */
function withPolicyCapability(host: Record<string, unknown>, networkMode: string): Record<string, unknown> {
  if (networkMode !== 'host') return host
  const capAdd = (host.CapAdd as string[] | null | undefined) ?? []
  return capAdd.some((cap) => cap.replace(/^CAP_/, '') === 'NET_ADMIN') ? host : { ...host, CapAdd: [...capAdd, 'NET_ADMIN'] }
}

/** Docker names a container's host after its id unless told otherwise; on
 *  host networking the host's name is not the container's to set. */
function hasOwnHostname(old: AgentContainer): boolean {
  const { hostname } = old.carried
  return hostname !== '' && !old.id.startsWith(hostname) && old.networkMode !== 'host'
}

/** Where the agent answers from this host: its published port, or its own
 *  port on host networking. */
export function agentUrl(container: AgentContainer): string {
  const port = Number(envValue(container.env, 'PORT') ?? DEFAULT_AGENT_PORT)
  const scheme = envValue(container.env, 'DTMA_TLS_CERT') === undefined ? 'http' : 'https'
  if (container.networkMode === 'host') return `${scheme}://127.0.0.1:${port}`
  const binding = container.portBindings[`${port}/tcp`]?.[0]
  if (binding?.HostPort === undefined || binding.HostPort === '') throw new Error(`container ${container.name} publishes no host port for the agent's port ${port}/tcp: name the agent's address with --url`)
  const host = binding.HostIp === undefined || binding.HostIp === '' || binding.HostIp === '0.0.0.0' ? '127.0.0.1' : binding.HostIp
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${binding.HostPort}`
}

/** Credentials the agent may accept for a read of its instances, from its own settings, best first:
 *  a token signed with its secret (its audience as the agent computes it), then the fleet key unless
 *  turned off. An enrolled agent keeps its secret in its data volume: none then, and the smoke test
 *  reads the public status alone. */
export async function agentCredentials(container: AgentContainer): Promise<string[]> {
  const setting = (key: string): string | undefined => envValue(container.env, key) || undefined
  const credentials: string[] = []
  const secret = setting('DTMA_BEARER_TOKEN') ?? setting('DTMA_AUTH_TOKEN')
  if (secret !== undefined) {
    const audience = audienceOf({ audience: setting('DTMA_TOKEN_AUDIENCE'), environmentId: setting('ACCOUNT_TOOL_ENVIRONMENT_ID') })
    credentials.push(await signToolboxToken(secret, { audience, scopes: ['tools:read'], lifetimeSeconds: 60, subject: 'dtma-upgrade' }))
  }
  const fleetKey = setting('BACKEND_TO_DTMA_API_KEY')
  if (fleetKey !== undefined && setting('DTMA_ACCEPT_FLEET_KEY') !== 'false') credentials.push(fleetKey)
  return credentials
}
