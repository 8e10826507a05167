// The fingerprint of a tool set: sha256 over each tool's name, input schema
// and output schema in a fixed order (object keys sorted, tools sorted by
// name), so the same tools give the same fingerprint whatever order the
// server lists them in, and any change of a name or schema gives another.
// Descriptions and annotations are left out: rewording is not a new tool.
import { createHash } from 'node:crypto'

export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, canonical((value as Record<string, unknown>)[key])])
  )
}

export function toolsFingerprint(tools: ReadonlyArray<Record<string, unknown>>): string {
  const essentials = tools
    .map((tool) => [String(tool.name), canonical(tool.inputSchema ?? null), canonical(tool.outputSchema ?? null)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return createHash('sha256').update(JSON.stringify(essentials)).digest('hex')
}
