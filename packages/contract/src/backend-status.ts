// DTMA's six instance statuses as values of the backend's
// account_tool_installation_status_enum (dtma-contract.md), for the agent's
// heartbeats and for the edge functions that write status_on_toolbox:
// PENDING/STARTING/STOPPING -> deploying, RUNNING -> running, STOPPED ->
// stopped, anything else -> error. Never a raw Docker state. It takes any
// text, case-insensitive: an agent of an earlier build answers in its own
// words, and whatever it says must still land on an enum value. Loads in
// Node and Deno like the rest of the contract.
import type { InstanceStatus } from './schemas.ts'

export type StatusOnToolbox = 'deploying' | 'running' | 'stopped' | 'error'

export function statusOnToolbox(status: InstanceStatus | (string & {})): StatusOnToolbox {
  switch (status.toLowerCase()) {
    case 'pending':
    case 'starting':
    case 'stopping':
      return 'deploying'
    case 'running':
      return 'running'
    case 'stopped':
      return 'stopped'
    default:
      return 'error'
  }
}
