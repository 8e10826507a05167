import t from 'tap'
import { containerNameFor } from '../../src/instances/container-name.ts'

const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/

t.test('names with spaces become valid, stable, distinct Docker names', async (t) => {
  const name = containerNameFor('Context7 MCP Server-1750278276605')
  t.match(name, /^dtma-context7-mcp-server-1750278276605-[0-9a-f]{10}$/)
  t.equal(containerNameFor('Context7 MCP Server-1750278276605'), name, 'stable')
  t.not(containerNameFor('context7 mcp server-1750278276605'), name, 'case is kept apart by the hash')
  for (const odd of ['   ', 'ÄÖÜ ünïcödé', '😀', '-leading', 'x'.repeat(128), '..']) {
    t.match(containerNameFor(odd), DOCKER_NAME, JSON.stringify(odd))
    t.ok(containerNameFor(odd).length <= 64)
  }
})
