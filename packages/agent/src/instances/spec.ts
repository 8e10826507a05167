// The normalized spec of an instance and its hash. Two deploy requests with
// the same normalized spec are the same deploy (idempotency); a different
// spec under an existing name is a conflict.
import { createHash } from 'node:crypto'
import { MAX_ENV_TOTAL_CHARS, type DeployToolBody, type PortMapping } from '@dtma/contract'
import { DtmaError } from '../errors.ts'

export interface InstanceSpec {
  instanceName: string
  accountToolInstanceId: string
  image: string
  env: string[]
  ports: PortMapping[]
}

function portsFromRequest(body: DeployToolBody, hostIp: string): PortMapping[] {
  const ports: PortMapping[] = []
  const seenHostPorts = new Set<string>()
  const bindings = body.baseConfigOverrideJson?.HostConfig?.PortBindings ?? {}
  for (const [key, hostBindings] of Object.entries(bindings)) {
    const [containerPortText, protocol = 'tcp'] = key.split('/') as [string, string?]
    const containerPort = Number(containerPortText)
    for (const binding of hostBindings) {
      const hostPort = Number(binding.HostPort)
      for (const [field, port] of [['container port', containerPort], ['HostPort', hostPort]] as const) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new DtmaError('invalid', `baseConfigOverrideJson.HostConfig.PortBindings['${key}']: ${field} must be between 1 and 65535`)
        }
      }
      const hostKey = `${hostPort}/${protocol}`
      if (seenHostPorts.has(hostKey)) {
        throw new DtmaError('invalid', `baseConfigOverrideJson.HostConfig.PortBindings: host port ${hostKey} is bound twice`)
      }
      seenHostPorts.add(hostKey)
      ports.push({ container_port: containerPort, protocol, host_ip: hostIp, host_port: hostPort })
    }
  }
  return ports.sort((a, b) => a.host_port - b.host_port || a.protocol.localeCompare(b.protocol))
}

/** Each entry is bounded by the schema; their sum is bounded here. */
function envFromRequest(body: DeployToolBody): string[] {
  const env = body.baseConfigOverrideJson?.Env ?? []
  const total = env.reduce((sum, entry) => sum + entry.length, 0)
  if (total > MAX_ENV_TOTAL_CHARS) {
    throw new DtmaError('invalid', `baseConfigOverrideJson.Env: ${total} characters in all, at most ${MAX_ENV_TOTAL_CHARS} are allowed`)
  }
  return env
}

export function specFromDeployRequest(body: DeployToolBody, hostIp: string): InstanceSpec {
  return {
    instanceName: body.instanceNameOnToolbox,
    accountToolInstanceId: body.accountToolInstanceId,
    image: body.dockerImageUrl,
    env: envFromRequest(body),
    ports: portsFromRequest(body, hostIp)
  }
}

/** sha256 over the spec with a fixed key order. Env values are part of it, so
 *  the hash is one-way only: it goes on a label, the values never do. */
export function specHash(spec: InstanceSpec): string {
  const canonical = JSON.stringify([spec.instanceName, spec.accountToolInstanceId, spec.image, spec.env, spec.ports.map((p) => [p.container_port, p.protocol, p.host_ip, p.host_port])])
  return createHash('sha256').update(canonical).digest('hex')
}

/** Environment keys without their values: safe for logs and the registry. */
export function envKeys(env: readonly string[]): string[] {
  return env.map((entry) => entry.slice(0, Math.max(0, entry.indexOf('='))))
}
