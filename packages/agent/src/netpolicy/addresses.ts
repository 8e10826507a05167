// What the rules need of the host: the nameservers Docker's embedded DNS
// forwards to (a tool's lookups leave from its own address, so the policy
// lets port 53 through to them), the host's own addresses, and the host
// names of allow lists resolved (kept fresh every DTMA_EGRESS_RESOLVE_INTERVAL_S).
import { lookup } from 'node:dns/promises'
import { readFileSync } from 'node:fs'
import { isIP, isIPv4 } from 'node:net'
import { forbiddenTarget, type Family } from '../model/egress.ts'

/** The nameservers of a resolv.conf text: IPv4 and IPv6, loopback ones left out (Docker does not forward to them). */
export function nameserversOf(text: string): string[] {
  const servers = [...text.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((match) => (match[1] as string).replace(/%.*$/, ''))
  return [...new Set(servers.filter((server) => isIP(server) !== 0 && !server.startsWith('127.') && server !== '::1'))]
}

/** The host's nameservers as Docker sees them: resolv.conf, or systemd-resolved's upstream list when it names only loopback. */
export function hostNameservers(paths: readonly string[] = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf']): string[] {
  for (const path of paths) {
    try {
      const servers = nameserversOf(readFileSync(path, 'utf8'))
      if (servers.length > 0) return servers
    } catch {
      // The next file, or none.
    }
  }
  return []
}

/** A resolved address a tool may be allowed to reach (never link-local, loopback or the host's own). */
export function allowedAddress(address: string, hostOwn: readonly string[]): boolean {
  const family: Family = isIPv4(address) ? 4 : 6
  return forbiddenTarget({ family, address, prefix: family === 4 ? 32 : 128 }, hostOwn) === undefined
}

export type Resolve = (host: string) => Promise<string[]>

export const systemResolve: Resolve = async (host) => (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address)

/** Host names of allow lists and their addresses, resolved again when older than the interval. */
export class HostNameCache {
  private readonly entries = new Map<string, { addresses: string[]; at: number }>()

  constructor(
    private readonly resolve: Resolve,
    private readonly intervalMs: number,
    private readonly onError: (host: string, error: Error) => void
  ) {}

  /** The addresses of each name, resolving the ones unknown or stale; a failed lookup keeps the last answer. */
  async addressesOf(hosts: Iterable<string>, now = Date.now()): Promise<Map<string, string[]>> {
    const wanted = [...new Set(hosts)]
    await Promise.all(
      wanted.map(async (host) => {
        const known = this.entries.get(host)
        if (known !== undefined && now - known.at < this.intervalMs) return
        try {
          this.entries.set(host, { addresses: [...new Set(await this.resolve(host))].sort(), at: now })
        } catch (error) {
          this.onError(host, error as Error)
          this.entries.set(host, { addresses: known?.addresses ?? [], at: now })
        }
      })
    )
    for (const host of this.entries.keys()) if (!wanted.includes(host)) this.entries.delete(host)
    return new Map(wanted.map((host) => [host, this.entries.get(host)?.addresses ?? []]))
  }
}
