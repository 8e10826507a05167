// The one rule on instance names beyond the contract's schema: a name that a
// route of its own shadows (GET /tools/status, GET /tools/legacy) could never
// be read or driven by name, so it is refused before anything is made.
import { SHADOWED_INSTANCE_NAMES } from '@dtma/contract'
import { DtmaError } from '../errors.ts'

export function assertReachableName(instanceName: string): void {
  if (SHADOWED_INSTANCE_NAMES.includes(instanceName)) {
    throw new DtmaError('invalid', `instanceNameOnToolbox '${instanceName}' cannot be used: GET /tools/${instanceName} is a route of its own (choose another name)`)
  }
}
