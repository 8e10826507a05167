// What the HTTP app and the metrics need of the tool network policy: the
// state in force, and the gate every deploy and start passes (a toolbox
// whose rules cannot be installed runs no tool unprotected).
export type NetworkPolicyMode = 'enforce' | 'off'

export interface NetworkPolicyStatus {
  state: 'enforced' | 'degraded' | 'off'
  /** Why it is degraded (or off). */
  reason?: string
  /** Rules the agent keeps installed (both families). */
  rules: number
  families: Array<'ipv4' | 'ipv6'>
}

export interface NetworkPolicyApi {
  status(): NetworkPolicyStatus
  /** Rejects with a 503 (network_policy_unavailable) and the reason while the policy is asked but not in
   *  force; waits for the first install when it is under way. */
  assertEnforced(): Promise<void>
}

/** What the metrics follow. */
export interface NetworkPolicyObserver {
  /** A hook someone removed was put back. */
  reinstalled(): void
}
