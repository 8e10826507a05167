// The prefixes of MCP instances on the aggregated endpoint, kept in the
// store's SQLite file (a table of its own, made when missing): given once,
// when the instance is first seen as an MCP server, and kept until it is
// removed, so a client's names do not change under it when the agent
// restarts or another instance comes.
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import { freePrefix } from '../model/mcp-prefix.ts'
import { transaction } from './sqlite.ts'

export class McpPrefixes {
  private readonly statements: Record<'get' | 'all' | 'insert' | 'remove', StatementSync>
  /** What the table holds, read once: every view publish asks. */
  private readonly cache = new Map<string, string>()

  constructor(private readonly db: DatabaseSync) {
    db.exec('CREATE TABLE IF NOT EXISTS mcp_prefixes (instance_name TEXT PRIMARY KEY, prefix TEXT NOT NULL UNIQUE)')
    this.statements = {
      get: db.prepare('SELECT prefix FROM mcp_prefixes WHERE instance_name = ?'),
      all: db.prepare('SELECT instance_name, prefix FROM mcp_prefixes'),
      insert: db.prepare('INSERT INTO mcp_prefixes (instance_name, prefix) VALUES (?, ?)'),
      remove: db.prepare('DELETE FROM mcp_prefixes WHERE instance_name = ?')
    }
    for (const row of this.statements.all.all() as Array<{ instance_name: string; prefix: string }>) this.cache.set(row.instance_name, row.prefix)
  }

  /** The instance's prefix: the one it was given, or a new one no other instance holds. */
  prefixOf(instanceName: string): string {
    const known = this.cache.get(instanceName)
    if (known !== undefined) return known
    const prefix = transaction(this.db, () => {
      const stored = this.statements.get.get(instanceName) as { prefix: string } | undefined
      if (stored !== undefined) return stored.prefix
      const taken = new Set((this.statements.all.all() as Array<{ prefix: string }>).map((row) => row.prefix))
      const chosen = freePrefix(instanceName, taken)
      this.statements.insert.run(instanceName, chosen)
      return chosen
    })
    this.cache.set(instanceName, prefix)
    return prefix
  }

  /** The instance is gone: its prefix is free again. */
  release(instanceName: string): void {
    if (!this.cache.delete(instanceName)) return
    this.statements.remove.run(instanceName)
  }
}
