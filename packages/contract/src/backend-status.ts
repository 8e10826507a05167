// DTMA's six instance statuses as values of the backend's
// account_tool_installation_status_enum (dtma-contract.md), for what the agent
// reports itself (heartbeats): PENDING/STARTING/STOPPING -> deploying,
// RUNNING -> running, STOPPED -> stopped, anything else -> error. Never a raw
// Docker state. Loads in Node and Deno like the rest of the contract.
import type { InstanceStatus } from './schemas.ts'

export type StatusOnToolbox = 'deploying' | 'running' | 'stopped' | 'error'

export function statusOnToolbox(status: InstanceStatus): StatusOnToolbox {
  switch (status) {
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
