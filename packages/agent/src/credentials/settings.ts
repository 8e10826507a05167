// What the credential check needs of the config: the audience (the setting,
// else dtma:<environment id>, else dtma:local), the per-VM secret, the
// authorization server, the caps, the fleet key; and the name -> instance id
// look-up of the domain's views, for tokens that name instances.
import { audienceOf } from '@dtma/contract'
import type { Config } from '../config.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { CredentialSettings } from './credential-check.ts'

export function credentialSettings(config: Config): CredentialSettings {
  const { tokens } = config
  return {
    ...(config.vmToken !== undefined && { secret: config.vmToken }),
    audience: audienceOf({ audience: tokens.audience, environmentId: config.environmentId ?? config.registry?.environmentId }),
    ...(tokens.jwks !== undefined && { jwks: tokens.jwks }),
    maxLifetimeS: tokens.maxLifetimeS,
    clockSkewS: tokens.clockSkewS,
    ...(config.backendApiKey !== undefined && { fleetKey: config.backendApiKey }),
    fleetKeyHashes: config.fleetKeyHashes,
    acceptFleetKey: tokens.acceptFleetKey
  }
}

/** The account_tool_instance_id of an instance by name, from the published views; undefined when none (or while not serving). */
export function instanceIdOf(instances: InstanceApi): (instanceName: string) => string | undefined {
  return (instanceName) => {
    try {
      return instances.list().find((view) => view.instanceName === instanceName)?.accountToolInstanceId
    } catch {
      return undefined
    }
  }
}
