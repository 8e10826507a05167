// The tool network policy's metrics: whether it is in force, and how often
// its hooks had to be put back (someone, or something, removed them).
import type { NetworkPolicyObserver, NetworkPolicyStatus } from '../netpolicy/netpolicy-api.ts'
import type { Metrics } from './metrics.ts'

export function networkPolicyMetrics(metrics: Metrics, status: () => NetworkPolicyStatus | undefined): NetworkPolicyObserver {
  metrics.gauge({
    name: 'network_policy_enforced',
    help: 'The tool network policy is in force (1), or not: degraded or off (0)',
    collect() {
      this.set(status()?.state === 'enforced' ? 1 : 0)
    }
  })
  const reinstalls = metrics.counter({ name: 'network_policy_reinstalls_total', help: 'Network policy hooks found removed and put back' })
  return { reinstalled: () => reinstalls.inc() }
}
