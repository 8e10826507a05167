// Host ports for tool containers. Each instance on a toolbox gets its own
// port from a fixed range; the agent's own port is never handed out (the
// backend once sent HostPort 30000 and collided with the agent).
import { DEFAULT_AGENT_PORT } from '../_shared/agent.ts'

export const HOST_PORT_FIRST = 30001
export const HOST_PORT_LAST = 30999

/** The lowest port of the range that is neither taken nor the agent's. */
export function pickHostPort(taken: ReadonlySet<number>, agentPort: number): number {
  for (let port = HOST_PORT_FIRST; port <= HOST_PORT_LAST; port++) {
    if (port !== agentPort && port !== DEFAULT_AGENT_PORT && !taken.has(port)) return port
  }
  throw new Error(`no free host port left in ${HOST_PORT_FIRST}-${HOST_PORT_LAST}`)
}
