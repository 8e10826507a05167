// Docker's state words mapped onto the six DTMA statuses the backend knows.
// A container the user stopped is `stopped`; one that died while it should
// run is `error`; the raw state is always reported beside it as docker_status.
import type { DesiredState, InstanceStatus } from '@dtma/contract'

export function instanceStatus(dockerState: string, desiredState: DesiredState): InstanceStatus {
  switch (dockerState) {
    case 'running':
      return 'running'
    case 'created':
      return desiredState === 'running' ? 'pending' : 'stopped'
    case 'restarting':
      return 'starting'
    case 'removing':
      return 'stopping'
    case 'paused':
      return 'stopped'
    case 'exited':
    case 'dead':
      return desiredState === 'running' ? 'error' : 'stopped'
    default:
      return 'error'
  }
}
