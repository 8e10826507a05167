// Ownership is marked on the container itself, under one prefix. A container
// without the managed label is not DTMA's and is never touched.
export const LABEL_PREFIX = 'dtma.'
export const MANAGED_LABEL = `${LABEL_PREFIX}managed`
export const MANAGED_FILTER = `${MANAGED_LABEL}=true`

export const InstanceLabel = {
  instanceName: `${LABEL_PREFIX}instance-name`,
  accountToolInstanceId: `${LABEL_PREFIX}account-tool-instance-id`,
  /** sha256 of the normalized spec: same hash, same deploy. */
  specHash: `${LABEL_PREFIX}spec-hash`
} as const
