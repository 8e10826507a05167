// base_config_override_json as toolbox-tools reads and writes it: the
// override the caller deployed with, passed on to the agent as stored (as
// Agentopia's own services do), its ports rewritten to the host ports the
// agent actually bound, so a re-deploy after the agent lost the instance asks
// for the same ports again. Rows written by the earlier version of this
// function hold { dockerImage, containerPort, hostPort, environmentVariables }
// and are read as the same deploy in service shape.
import type { BaseConfigOverride, PortMapping } from '../../../packages/contract/src/index.ts'
import type { InstanceRow, Json } from '../_shared/database.ts'

interface LegacyToolConfig {
  dockerImage?: unknown
  containerPort?: unknown
  hostPort?: unknown
  environmentVariables?: unknown
}

export function storedOverride(row: InstanceRow): BaseConfigOverride | null {
  const value = row.base_config_override_json
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null
  const legacy = value as LegacyToolConfig
  if (typeof legacy.containerPort === 'number' && typeof legacy.hostPort === 'number') {
    return {
      ...(typeof legacy.dockerImage === 'string' && { dockerImage: legacy.dockerImage }),
      environmentVariables: (legacy.environmentVariables ?? {}) as Record<string, string>,
      portMappings: [{ containerPort: legacy.containerPort, hostPort: legacy.hostPort }]
    }
  }
  // Whatever else is stored goes to the agent as it is: the agent judges it
  // and names any field it refuses.
  return value as BaseConfigOverride
}

/** The override with the agent's bound ports as its one list of ports
 *  (HostConfig holds nothing but PortBindings, so it goes with them). */
export function withBoundPorts(override: BaseConfigOverride | null, bound: readonly PortMapping[]): Json {
  if (bound.length === 0 && !override?.portMappings && !override?.HostConfig) return override as Json
  const { HostConfig: _askedPorts, ...rest } = override ?? {}
  return { ...rest, portMappings: bound.map((port) => ({ containerPort: port.container_port, hostPort: port.host_port, protocol: port.protocol })) } as Json
}

export interface ConfigSummary {
  ports: Array<{ container_port: number; host_port: number; protocol: string }>
  environment_variable_keys: string[]
}

/** What the browser may see of a stored override: ports and env keys (in name order: a jsonb column keeps no
 *  order of its keys), never env values. */
export function configSummary(row: InstanceRow): ConfigSummary {
  const override = storedOverride(row)
  const number = (value: unknown) => (value === undefined || value === null || value === '' ? 0 : Number(value))
  const ports = [
    ...Object.entries(override?.HostConfig?.PortBindings ?? {}).flatMap(([key, bindings]) => {
      const [containerPort, protocol = 'tcp'] = key.split('/')
      return bindings.map((binding) => ({ container_port: number(containerPort), host_port: number(binding.HostPort), protocol }))
    }),
    ...(override?.portMappings ?? []).map((mapping) => ({
      container_port: number(mapping.containerPort),
      host_port: number(mapping.hostPort),
      protocol: (mapping.protocol ?? 'tcp').toLowerCase()
    }))
  ]
  const keys = [...(override?.Env ?? []).map((entry) => entry.slice(0, entry.indexOf('='))), ...Object.keys(override?.environmentVariables ?? {})]
  return { ports, environment_variable_keys: [...new Set(keys)].sort() }
}
