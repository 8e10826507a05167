// The drift lock's pins (model/tool-pins.ts) in the agent's SQLite file,
// through a connection of its own (store/sqlite.ts: WAL, synchronous=FULL),
// so they survive agent restarts and redeploys. One row per instance and
// tool; the definition kept is what the fingerprint covers (name, title,
// description, schemas, annotations), never an argument or a secret.
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { PinSet, PinStore, ToolPin } from '../model/tool-pins.ts'
import { openDatabase, transaction } from './sqlite.ts'

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS mcp_tool_pins (
    instance_id     TEXT NOT NULL,
    tool_name       TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    pinned_at       TEXT NOT NULL,
    PRIMARY KEY (instance_id, tool_name)
  );
  CREATE TABLE IF NOT EXISTS mcp_pinned_instances (
    instance_id TEXT PRIMARY KEY
  );`

type PinRow = { tool_name: string; fingerprint: string; definition_json: string; pinned_at: string }

export class ToolPinStore implements PinStore {
  private readonly db: DatabaseSync
  private readonly statements: Record<'pinned' | 'pins' | 'mark' | 'put' | 'drop', StatementSync>

  /** storePath: the instance store's file (made 0600 by it). */
  constructor(storePath: string) {
    this.db = openDatabase(storePath)
    this.db.exec(SCHEMA)
    this.statements = {
      pinned: this.db.prepare('SELECT 1 FROM mcp_pinned_instances WHERE instance_id = ?'),
      pins: this.db.prepare('SELECT tool_name, fingerprint, definition_json, pinned_at FROM mcp_tool_pins WHERE instance_id = ?'),
      mark: this.db.prepare('INSERT OR IGNORE INTO mcp_pinned_instances (instance_id) VALUES (?)'),
      put: this.db.prepare(
        `INSERT INTO mcp_tool_pins (instance_id, tool_name, fingerprint, definition_json, pinned_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (instance_id, tool_name) DO UPDATE SET fingerprint = excluded.fingerprint, definition_json = excluded.definition_json, pinned_at = excluded.pinned_at`
      ),
      drop: this.db.prepare('DELETE FROM mcp_tool_pins WHERE instance_id = ? AND tool_name = ?')
    }
  }

  read(instanceId: string): PinSet | undefined {
    if (this.statements.pinned.get(instanceId) === undefined) return undefined
    const rows = this.statements.pins.all(instanceId) as PinRow[]
    return new Map(rows.map((row) => [row.tool_name, { fingerprint: row.fingerprint, definition: JSON.parse(row.definition_json) as Record<string, unknown>, pinnedAt: row.pinned_at } satisfies ToolPin]))
  }

  write(instanceId: string, pins: ReadonlyMap<string, ToolPin>, removed: readonly string[] = []): void {
    transaction(this.db, () => {
      this.statements.mark.run(instanceId)
      for (const [name, pin] of pins) this.statements.put.run(instanceId, name, pin.fingerprint, JSON.stringify(pin.definition), pin.pinnedAt)
      for (const name of removed) this.statements.drop.run(instanceId, name)
    })
  }

  close(): void {
    this.db.close()
  }
}
