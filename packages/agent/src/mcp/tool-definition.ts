// What the drift lock compares of a tool: its name, title, description,
// input and output schema and annotations (annotations included: a tool
// that turns from read-only to destructive is a change a caller must see
// approved). _meta, icons and the rest are left out. The fingerprint is
// sha256 over them with object keys sorted (fingerprint.ts's canonical form),
// so the same definition listed in another key order is the same tool.
import { createHash } from 'node:crypto'
import { canonical } from './fingerprint.ts'

const COMPARED = ['title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const

export function toolDefinition(tool: Record<string, unknown>): Record<string, unknown> {
  const definition: Record<string, unknown> = {}
  for (const key of COMPARED) if (tool[key] !== undefined) definition[key] = tool[key]
  return definition
}

export function definitionFingerprint(tool: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(canonical([String(tool.name), toolDefinition(tool)]))).digest('hex')
}

/** The name of a listed tool, when it has one. */
export function toolName(tool: unknown): string | undefined {
  const name = (tool as { name?: unknown } | null)?.name
  return typeof name === 'string' ? name : undefined
}
