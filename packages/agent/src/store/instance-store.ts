// The embedded durable store: what SHOULD exist (desired spec and run state of
// every instance). One SQLite file under the data dir (node:sqlite), written
// in WAL mode with synchronous=FULL so a kill -9 at any moment leaves a
// readable store.
// Each record also journals the operation in flight on it, so an operation
// cut by a crash is finished or rolled back at the next start.
// It holds env values (needed to recreate a container), so the file is 0600
// and its rows never reach logs, labels or API answers.
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import type { DatabaseSync, StatementSync } from 'node:sqlite'
import type { DesiredState } from '@dtma/contract'
import type { InstanceSpec } from '../model/instance-spec.ts'
import { McpPrefixes } from './mcp-prefixes.ts'
import { openDatabase, transaction } from './sqlite.ts'

/** An operation in flight: written before it touches Docker, cleared after.
 *  A record still carrying one at start-up was interrupted by a crash. */
export type PendingOperation = 'deploy' | 'remove'

/** The container a pending deploy replaces (a take-over of an earlier
 *  agent's container): a crash mid-way is finished (the old one stopped and
 *  removed) when the new container exists, rolled back (the old one started
 *  again if it ran) when it does not. */
export interface ReplacedContainer {
  containerId: string
  containerName: string
  wasRunning: boolean
}

export interface InstanceRecord {
  instanceName: string
  containerName: string
  spec: InstanceSpec
  specHash: string
  desiredState: DesiredState
  pendingOperation: PendingOperation | null
  /** With a pending deploy: the container it replaces; cleared with the pending operation. */
  replaces: ReplacedContainer | null
  /** unix milliseconds */
  updatedAt: number
}

/** A row as SQLite holds it (a type, not an interface: it binds as named parameters). */
type InstanceRow = {
  instance_name: string
  container_name: string
  spec_json: string
  spec_hash: string
  desired_state: DesiredState
  pending_operation: PendingOperation | null
  replaces_json: string | null
  updated_at: number
}

const MIGRATIONS: string[] = [
  `CREATE TABLE instances (
     instance_name  TEXT PRIMARY KEY,
     container_name TEXT NOT NULL UNIQUE,
     spec_json      TEXT NOT NULL,
     spec_hash      TEXT NOT NULL,
     desired_state  TEXT NOT NULL CHECK (desired_state IN ('running', 'stopped')),
     pending_operation TEXT CHECK (pending_operation IN ('deploy', 'remove')),
     updated_at     INTEGER NOT NULL
   )`,
  'ALTER TABLE instances ADD COLUMN replaces_json TEXT'
]

export const STORE_FILE_NAME = 'dtma.db'

function toRecord(row: InstanceRow): InstanceRecord {
  return {
    instanceName: row.instance_name,
    containerName: row.container_name,
    spec: JSON.parse(row.spec_json) as InstanceSpec,
    specHash: row.spec_hash,
    desiredState: row.desired_state,
    pendingOperation: row.pending_operation,
    replaces: row.replaces_json === null ? null : (JSON.parse(row.replaces_json) as ReplacedContainer),
    updatedAt: row.updated_at
  }
}

export class InstanceStore {
  readonly path: string
  /** The MCP instances' prefixes on the aggregated endpoint. */
  readonly prefixes: McpPrefixes
  private readonly db: DatabaseSync
  private readonly statements: Record<'get' | 'list' | 'upsert' | 'setDesired' | 'setPending' | 'remove', StatementSync>

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    this.path = join(dataDir, STORE_FILE_NAME)
    // Create the file with owner-only permissions before SQLite opens it.
    closeSync(openSync(this.path, 'a', 0o600))
    chmodSync(this.path, 0o600)
    this.db = openDatabase(this.path)
    this.migrate()
    this.prefixes = new McpPrefixes(this.db)
    this.statements = {
      get: this.db.prepare('SELECT * FROM instances WHERE instance_name = ?'),
      list: this.db.prepare('SELECT * FROM instances ORDER BY instance_name'),
      upsert: this.db.prepare(
        `INSERT INTO instances (instance_name, container_name, spec_json, spec_hash, desired_state, pending_operation, replaces_json, updated_at)
         VALUES (@instance_name, @container_name, @spec_json, @spec_hash, @desired_state, @pending_operation, @replaces_json, @updated_at)
         ON CONFLICT (instance_name) DO UPDATE SET container_name = excluded.container_name, spec_json = excluded.spec_json,
           spec_hash = excluded.spec_hash, desired_state = excluded.desired_state,
           pending_operation = excluded.pending_operation, replaces_json = excluded.replaces_json, updated_at = excluded.updated_at`
      ),
      setDesired: this.db.prepare('UPDATE instances SET desired_state = ?, updated_at = ? WHERE instance_name = ?'),
      // Clearing the pending operation clears what it replaces with it.
      setPending: this.db.prepare('UPDATE instances SET pending_operation = ?1, replaces_json = IIF(?1 IS NULL, NULL, replaces_json), updated_at = ?2 WHERE instance_name = ?3'),
      remove: this.db.prepare('DELETE FROM instances WHERE instance_name = ?')
    }
  }

  private migrate(): void {
    const { user_version: current } = this.db.prepare('PRAGMA user_version').get() as { user_version: number }
    const pending = MIGRATIONS.slice(current)
    if (pending.length === 0) return
    transaction(this.db, () => {
      for (const sql of pending) this.db.exec(sql)
      this.db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`)
    })
  }

  get(instanceName: string): InstanceRecord | undefined {
    const row = this.statements.get.get(instanceName) as InstanceRow | undefined
    return row ? toRecord(row) : undefined
  }

  list(): InstanceRecord[] {
    return (this.statements.list.all() as InstanceRow[]).map(toRecord)
  }

  put(record: Omit<InstanceRecord, 'updatedAt' | 'pendingOperation' | 'replaces'> & { pendingOperation?: PendingOperation | null; replaces?: ReplacedContainer | null }, now = Date.now()): void {
    const row: InstanceRow = {
      instance_name: record.instanceName,
      container_name: record.containerName,
      spec_json: JSON.stringify(record.spec),
      spec_hash: record.specHash,
      desired_state: record.desiredState,
      pending_operation: record.pendingOperation ?? null,
      replaces_json: record.pendingOperation === 'deploy' && record.replaces != null ? JSON.stringify(record.replaces) : null,
      updated_at: now
    }
    this.statements.upsert.run(row)
  }

  setPendingOperation(instanceName: string, operation: PendingOperation | null, now = Date.now()): void {
    this.statements.setPending.run(operation, now, instanceName)
  }

  setDesiredState(instanceName: string, desiredState: DesiredState, now = Date.now()): void {
    this.statements.setDesired.run(desiredState, now, instanceName)
  }

  delete(instanceName: string): void {
    this.statements.remove.run(instanceName)
  }

  close(): void {
    this.db.close()
  }
}
