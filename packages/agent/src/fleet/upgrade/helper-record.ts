// Which upgrade helper is running, as the agent that started it wrote it in
// its data volume: the agent that answers after the upgrade (the new one, or
// the previous one after a rollback) shares that volume and follows this
// helper, and no other container, whatever labels it carries.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export interface RecordedHelper {
  /** The upgrade's random id, also on the helper's dtma.upgrade-operation label. */
  operationId: string
  containerName: string
  /** The agent container it upgrades. */
  agent: string
  /** Known once Docker made it. */
  helperId?: string
}

export class HelperRecord {
  constructor(private readonly file: string) {}

  read(): RecordedHelper | undefined {
    let text: string
    try {
      text = readFileSync(this.file, 'utf8')
    } catch {
      return undefined
    }
    try {
      const value = JSON.parse(text) as Partial<RecordedHelper>
      if (typeof value.operationId !== 'string' || typeof value.containerName !== 'string' || typeof value.agent !== 'string') return undefined
      return { operationId: value.operationId, containerName: value.containerName, agent: value.agent, ...(typeof value.helperId === 'string' && { helperId: value.helperId }) }
    } catch {
      return undefined
    }
  }

  /** Replaced whole (written aside, then renamed): a crash leaves the old record or the new one. */
  write(helper: RecordedHelper): void {
    mkdirSync(dirname(this.file), { recursive: true })
    const aside = `${this.file}.tmp`
    writeFileSync(aside, JSON.stringify(helper), { mode: 0o600 })
    renameSync(aside, this.file)
  }

  /** Forgets the helper of this operation (a later operation's record stays). */
  clear(operationId: string): void {
    if (this.read()?.operationId !== operationId) return
    rmSync(this.file, { force: true })
  }
}
