// A deploy's resourceLimits as Agentopia writes them ("512m", "256Mi",
// cpu "0.5") turned into the container's limits, never above the agent's
// maxima: a larger ask is lowered and the caller is told.
import type { ResourceLimitsRequest } from '@dtma/contract'
import { DtmaError } from '../errors.ts'
import type { ResourceLimits } from '../runtime/types.ts'

const MIB = 1024 * 1024
/** Docker refuses less memory than this. */
const MIN_MEMORY_BYTES = 6 * MIB
/** Docker's smallest CPU share. */
const MIN_NANO_CPUS = 10_000_000

const UNIT_BYTES: Record<string, number> = { '': 1, b: 1, k: 1024, m: MIB, g: 1024 * MIB, t: 1024 * 1024 * MIB }

/** "512m", "512MB", "256Mi", "1Gi", "1.5g" or a number of bytes: binary units, as Docker reads them. */
export function parseMemory(value: string | number): number {
  if (typeof value === 'number') return Math.floor(value)
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)/i.exec(value.trim()) as RegExpExecArray
  return Math.floor(Number(match[1]) * (UNIT_BYTES[(match[2] ?? '').toLowerCase()] ?? 1))
}

function mib(bytes: number): string {
  return `${Math.round((bytes / MIB) * 10) / 10} MiB`
}

/** The limits to apply and the sentences that say what was lowered or not applied.
 *  undefined when nothing was asked: the container gets the agent's defaults. */
export function limitsFromRequest(request: ResourceLimitsRequest | null | undefined, maxima: ResourceLimits): { limits?: ResourceLimits; warnings: string[] } {
  const warnings: string[] = []
  if (request === null || request === undefined) return { warnings }
  const field = (name: string) => `baseConfigOverrideJson.resourceLimits.${name}`
  const limits: ResourceLimits = { ...maxima }
  let asked = false

  if (request.memory !== undefined && request.memory !== null) {
    asked = true
    const bytes = parseMemory(request.memory)
    if (bytes < MIN_MEMORY_BYTES) {
      throw new DtmaError('invalid', `${field('memory')}: ${JSON.stringify(request.memory)} is less than Docker's minimum of 6 MiB; give a unit, e.g. "512m"`)
    }
    if (bytes > maxima.memoryBytes) warnings.push(`${field('memory')} ${JSON.stringify(request.memory)} is above this agent's maximum: ${mib(maxima.memoryBytes)} applied`)
    limits.memoryBytes = Math.min(bytes, maxima.memoryBytes)
  }

  // Agentopia's services write `cpu`; Docker's word is `cpus`. Both mean the same.
  const cpuField = request.cpus !== undefined && request.cpus !== null ? 'cpus' : 'cpu'
  const cpus = request[cpuField]
  if (cpuField === 'cpus' && request.cpu !== undefined && request.cpu !== null && Number(request.cpus) !== Number(request.cpu)) {
    warnings.push(`${field('cpus')} and ${field('cpu')} differ: cpus ${JSON.stringify(request.cpus)} applied`)
  }
  if (cpus !== undefined && cpus !== null) {
    asked = true
    const nanoCpus = Math.round(Number(cpus) * 1e9)
    if (nanoCpus < MIN_NANO_CPUS) throw new DtmaError('invalid', `${field(cpuField)}: ${JSON.stringify(cpus)} is less than Docker's minimum of 0.01`)
    if (nanoCpus > maxima.nanoCpus) warnings.push(`${field(cpuField)} ${JSON.stringify(cpus)} is above this agent's maximum: ${maxima.nanoCpus / 1e9} applied`)
    limits.nanoCpus = Math.min(nanoCpus, maxima.nanoCpus)
  }

  if (request.pids !== undefined && request.pids !== null) {
    asked = true
    const pids = Number(request.pids)
    if (pids < 1) throw new DtmaError('invalid', `${field('pids')}: at least 1`)
    if (pids > maxima.pidsLimit) warnings.push(`${field('pids')} ${pids} is above this agent's maximum: ${maxima.pidsLimit} applied`)
    limits.pidsLimit = Math.min(pids, maxima.pidsLimit)
  }

  if (request.storage !== undefined && request.storage !== null) warnings.push(`${field('storage')} is not applied: DTMA does not limit a container's disk`)
  return asked ? { limits, warnings } : { warnings }
}
