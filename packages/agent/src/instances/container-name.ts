// Docker container names cannot hold spaces or most punctuation, but callers
// name instances freely ("Context7 MCP Server-1750278276605"). The Docker
// name is a slug for people plus a short hash of the full name for
// uniqueness; the full name lives in a label and in every API answer.
import { createHash } from 'node:crypto'

const SLUG_MAX = 40

export function containerNameFor(instanceName: string): string {
  const slug = instanceName
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, SLUG_MAX)
    .replace(/[-_.]+$/, '')
  const hash = createHash('sha256').update(instanceName).digest('hex').slice(0, 10)
  return `dtma-${slug || 'tool'}-${hash}`
}
