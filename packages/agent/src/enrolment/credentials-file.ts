// This toolbox's credentials in its data dir (TOOLBOX_CREDENTIALS_FILE):
// written once at enrolment, atomically (a temporary file of mode 0600,
// fsynced, renamed over), read at every later start. The file holds the
// per-VM token: it never leaves the VM and never reaches a log.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ToolboxCredentials } from '@dtma/contract'
import { Value } from 'typebox/value'
import { writeFileAtomic } from '../atomic-file.ts'
import { TOOLBOX_CREDENTIALS_FILE } from '../config-schema.ts'

export type StoredCredentials = ToolboxCredentials & { enrolled_at: string }

export function credentialsPath(dataDir: string): string {
  return join(dataDir, TOOLBOX_CREDENTIALS_FILE)
}

/** The stored credentials, undefined when none; a broken file is an error that names the file, not its content. */
export function readCredentials(dataDir: string): StoredCredentials | undefined {
  let text: string
  try {
    text = readFileSync(credentialsPath(dataDir), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  if (!Value.Check(ToolboxCredentials, parsed)) {
    throw new Error(`${credentialsPath(dataDir)} is not a toolbox's credentials: remove it and enrol again with a new token from the backend`)
  }
  return parsed as StoredCredentials
}

export function writeCredentials(dataDir: string, credentials: StoredCredentials): void {
  writeFileAtomic(credentialsPath(dataDir), `${JSON.stringify(credentials, null, 2)}\n`)
}
