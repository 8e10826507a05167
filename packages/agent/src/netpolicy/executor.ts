// Runs iptables for the policy: execFile, never a shell; -w always (the
// xtables lock: agents, Docker and firewall tools write the same tables).
// The command is a setting (DTMA_IPTABLES: `iptables`, `iptables-legacy`,
// `iptables-nft` or a path): the agent must write where Docker writes; the
// IPv6 and restore programs are named after it.
import { execFile } from 'node:child_process'
import { basename, dirname, join } from 'node:path'
import type { Family } from '../model/egress.ts'

const TIMEOUT_MS = 30_000

export interface IptablesExecutor {
  /** `iptables -S <chain>` lines; undefined when the chain does not exist. */
  list(family: Family, chain: string): Promise<string[] | undefined>
  /** One iptables-restore --noflush transaction (all of it or nothing). */
  restore(family: Family, text: string): Promise<void>
  /** One iptables command (its arguments after -w). */
  run(family: Family, args: string[]): Promise<void>
}

export class IptablesCommandError extends Error {
  override name = 'IptablesCommandError'
}

/** iptables -> ip6tables, iptables-legacy -> ip6tables-legacy, /usr/sbin/iptables -> /usr/sbin/ip6tables. */
export function programs(command: string): Record<Family, { iptables: string; restore: string }> {
  const dir = command.includes('/') ? dirname(command) : ''
  const name = basename(command)
  const at = (program: string) => (dir === '' ? program : join(dir, program))
  const v6 = name.replace(/^iptables/, 'ip6tables')
  return { 4: { iptables: at(name), restore: at(`${name}-restore`) }, 6: { iptables: at(v6), restore: at(`${v6}-restore`) } }
}

function exec(file: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resolve(stdout)
      const code = (error as NodeJS.ErrnoException).code
      const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : (stderr.trim().split('\n')[0] ?? '') || error.message
      reject(new IptablesCommandError(`${basename(file)} ${args.filter((arg) => arg !== '-w').slice(0, 3).join(' ')}: ${why}`))
    })
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(stdin ?? '')
  })
}

export class ExecIptables implements IptablesExecutor {
  private readonly programs: ReturnType<typeof programs>

  constructor(command = 'iptables') {
    this.programs = programs(command)
  }

  async list(family: Family, chain: string): Promise<string[] | undefined> {
    try {
      return (await exec(this.programs[family].iptables, ['-w', '-S', chain])).split('\n').filter(Boolean)
    } catch (error) {
      // A missing chain: "No chain/target/match by that name" (legacy), "chain `X' ... is incompatible" or "does not exist" (nf_tables).
      if (/No chain\/target\/match|chain `[^']*' in table `filter' is incompatible|does not exist/i.test((error as Error).message)) return undefined
      throw error
    }
  }

  async restore(family: Family, text: string): Promise<void> {
    await exec(this.programs[family].restore, ['-w', '--noflush'], text)
  }

  async run(family: Family, args: string[]): Promise<void> {
    await exec(this.programs[family].iptables, ['-w', ...args])
  }
}
