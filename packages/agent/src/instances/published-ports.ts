// A bound port as every reader of the API names it: DTMA's own fields and
// the Docker-style ones the DTMA console reads.
import type { PortMapping } from '@dtma/contract'
import type { PortBinding } from '../runtime/docker-runtime.ts'

export function publishedPorts(bindings: readonly PortBinding[]): PortMapping[] {
  return bindings.map((binding) => ({
    ...binding,
    ip: binding.host_ip,
    private_port: binding.container_port,
    public_port: binding.host_port,
    type: binding.protocol
  }))
}
