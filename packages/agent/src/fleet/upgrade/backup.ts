// The upgrade's backup, before anything changes: the stopped agent's
// container config (`docker inspect`: an earlier agent has no store, and its
// settings are what a rollback by hand would need) and, for this agent, its
// store as a tar of the data directory. Both hold secrets (tokens, tool env
// values): files of mode 0600 in a directory of mode 0700, named after the
// container and the time, never after anything secret.
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { AgentContainer, AgentHost } from '../../runtime/agent-host.ts'
import { dataDirOf } from './agent-container.ts'

export interface Backup {
  config: string
  /** The store's tar; undefined for an agent without one (an earlier agent). */
  store: string | undefined
}

/** 2025-06-01T12-00-00Z: sortable, and safe in a file name. */
export function stamp(now = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
}

export async function backUp(host: AgentHost, container: AgentContainer, directory: string, now = new Date()): Promise<Backup> {
  mkdirSync(directory, { recursive: true, mode: 0o700 })
  const base = join(directory, `${container.name}-${stamp(now)}`)
  const config = `${base}.container.json`
  writeFileSync(config, JSON.stringify(container.inspect, null, 2), { mode: 0o600, flag: 'wx' })
  const tar = await host.archive(container.id, dataDirOf(container))
  if (tar === undefined) return { config, store: undefined }
  const store = `${base}.store.tar`
  await pipeline(tar, createWriteStream(store, { mode: 0o600, flags: 'wx' }))
  return { config, store }
}
