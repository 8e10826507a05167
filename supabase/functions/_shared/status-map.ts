// The agent's six instance statuses as values of the backend's
// account_tool_installation_status_enum (dtma-contract.md): upper-cased,
// PENDING/STARTING/STOPPING -> deploying, RUNNING -> running,
// STOPPED -> stopped, anything else -> error. Never a raw Docker state.
import type { InstallationStatus } from './database.ts'

export function statusOnToolbox(agentStatus: string): InstallationStatus {
  switch (agentStatus.toUpperCase()) {
    case 'PENDING':
    case 'STARTING':
    case 'STOPPING':
      return 'deploying'
    case 'RUNNING':
      return 'running'
    case 'STOPPED':
      return 'stopped'
    default:
      return 'error'
  }
}
