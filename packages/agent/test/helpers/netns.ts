// A small network laboratory on the test machine, for the tests of the tools'
// network policy: network namespaces on veth pairs stand in for the
// internet, a private network and a cloud's metadata service (documentation
// and well-known addresses), each with a busybox httpd that answers a marker
// of its own. Everything a lab makes (namespaces, links, addresses, routes,
// sysctls, servers) is undone at teardown, in reverse order, even when the
// test failed. Names carry a random id so two runs never share one; the
// addresses are fixed, so the tests that use them take a host-wide lock.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, get, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

interface TapLike {
  teardown(fn: () => unknown): void
  comment(...message: unknown[]): void
}

export async function sh(command: string, ...args: string[]): Promise<string> {
  return (await run(command, args, { timeout: 20_000 })).stdout
}

export interface NamespaceOptions {
  /** Addresses (CIDR) on the host's end of the veth pair. */
  hostSide: string[]
  /** Addresses (CIDR) on the namespace's end. */
  nsSide: string[]
  /** More addresses (CIDR) of the namespace, on its lo. */
  nsLo?: string[]
  /** Routes in the namespace, as `ip route add` arguments (`-6` first for IPv6). */
  nsRoutes?: string[][]
  /** Routes on the host towards the namespace, as `ip route add` arguments. */
  hostRoutes?: string[][]
}

export interface NetLab {
  id: string
  /** Makes a namespace on a veth pair; returns its name. */
  namespace(tag: string, options: NamespaceOptions): Promise<string>
  /** busybox httpd in a namespace on addr:port, answering `marker`. */
  serve(ns: string, address: string, port: number, marker: string): Promise<void>
  /** An address on the host's lo, removed at teardown. */
  hostLoAddress(cidr: string): Promise<void>
  /** A node HTTP server on the host answering `marker`, on host:port (`::` covers IPv4 too). */
  hostServer(host: string, port: number, marker: string): Promise<Server>
  /** Points a name at an address in /etc/hosts (again: moves it), removed at teardown. */
  hostsEntry(name: string, address: string): void
  /** Sets a sysctl for the test, restored at teardown. */
  sysctl(key: string, value: string): Promise<void>
  /** Undoes everything so far (teardown calls it too). */
  cleanup(): Promise<void>
}

/** A lab for this test, made once the host-wide lock is held (released after the lab's cleanup). */
export async function netLab(t: TapLike): Promise<NetLab> {
  const release = await hostNetworkLock()
  const id = randomBytes(3).toString('hex').slice(0, 5)
  const undo: Array<() => Promise<unknown>> = []
  const servers: ChildProcess[] = []
  const www = mkdtempSync(join(tmpdir(), `dtma-netlab-${id}-`))
  const ip = (...args: string[]) => sh('ip', ...args)
  const later = (fn: () => Promise<unknown>) => undo.push(fn)
  const quietly = (fn: () => Promise<unknown>) => () => fn().catch(() => undefined)

  const lab: NetLab = {
    id,
    async namespace(tag, options) {
      const ns = `dtma-np-${id}-${tag}`
      const hostIf = `np${id}${tag.slice(0, 3)}h`
      const nsIf = `np${id}${tag.slice(0, 3)}n`
      await ip('netns', 'add', ns)
      later(quietly(() => ip('netns', 'del', ns)))
      await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf)
      later(quietly(() => ip('link', 'del', hostIf)))
      await ip('link', 'set', nsIf, 'netns', ns)
      const inNs = (...args: string[]) => ip('netns', 'exec', ns, 'ip', ...args)
      for (const cidr of options.hostSide) await ip('addr', 'add', cidr, 'dev', hostIf, ...(cidr.includes(':') ? ['nodad'] : []))
      for (const cidr of options.nsSide) await inNs('addr', 'add', cidr, 'dev', nsIf, ...(cidr.includes(':') ? ['nodad'] : []))
      for (const cidr of options.nsLo ?? []) await inNs('addr', 'add', cidr, 'dev', 'lo')
      await ip('link', 'set', hostIf, 'up')
      await inNs('link', 'set', nsIf, 'up')
      await inNs('link', 'set', 'lo', 'up')
      for (const route of options.nsRoutes ?? []) await inNs(...route.slice(0, route[0] === '-6' ? 1 : 0), 'route', 'add', ...route.slice(route[0] === '-6' ? 1 : 0))
      for (const route of options.hostRoutes ?? []) {
        const six = route[0] === '-6' ? ['-6'] : []
        const rest = route.slice(six.length)
        await ip(...six, 'route', 'add', ...rest)
        later(quietly(() => ip(...six, 'route', 'del', ...rest)))
      }
      return ns
    },
    async serve(ns, address, port, marker) {
      const dir = join(www, `${ns}-${address.replace(/[^0-9a-f]/gi, '_')}-${port}`)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, 'index.html'), `${marker}\n`)
      const bind = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
      const child = spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', bind, '-h', dir], { stdio: 'ignore' })
      servers.push(child)
      later(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      })
      // Ready once it answers the host (the host routes to every namespace of the lab).
      const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}/`
      for (let attempt = 0; attempt < 100; attempt++) {
        const body = await httpGet(url).catch(() => '')
        if (body.includes(marker)) return
        if (child.exitCode !== null) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error(`httpd on ${bind} in ${ns} did not answer`)
    },
    async hostLoAddress(cidr) {
      await ip('addr', 'add', cidr, 'dev', 'lo')
      later(quietly(() => ip('addr', 'del', cidr, 'dev', 'lo')))
    },
    async hostServer(host, port, marker) {
      const server = createServer((_request, response) => response.end(`${marker}\n`))
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host, port, ipv6Only: false }, () => resolve())
      })
      later(() => new Promise((resolve) => server.close(() => resolve(undefined))))
      return server
    },
    hostsEntry(name, address) {
      const others = () => readFileSync('/etc/hosts', 'utf8').split('\n').filter((line) => !line.trim().endsWith(` ${name}`))
      const first = !readFileSync('/etc/hosts', 'utf8').includes(` ${name}`)
      const lines = others()
      // In place (the file may be a bind mount): no rename.
      writeFileSync('/etc/hosts', `${[...lines.filter((line, index) => line !== '' || index < lines.length - 1), `${address} ${name}`].join('\n')}\n`)
      if (first) later(async () => writeFileSync('/etc/hosts', `${others().join('\n').replace(/\n+$/, '')}\n`))
    },
    async sysctl(key, value) {
      const path = `/proc/sys/${key.replace(/\./g, '/')}`
      const before = readFileSync(path, 'utf8').trim()
      writeFileSync(path, value)
      later(async () => writeFileSync(path, before))
    },
    async cleanup() {
      while (undo.length > 0) await undo.pop()!().catch((error: unknown) => t.comment(`netlab cleanup: ${String(error)}`))
      rmSync(www, { recursive: true, force: true })
    }
  }
  t.teardown(async () => {
    await lab.cleanup()
    release()
  })
  return lab
}

const LOCK = '/tmp/dtma-netpolicy-tests.lock'

/** True while the process lives (signal 0 only asks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * The lab's addresses are fixed (203.0.113.10, 169.254.169.254 on lo...):
 * the tests that make them run one at a time, across processes. A lock left
 * by a dead process is taken over.
 */
export async function hostNetworkLock(timeoutMs = 240_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      mkdirSync(LOCK)
      writeFileSync(join(LOCK, 'pid'), String(process.pid))
      return () => rmSync(LOCK, { recursive: true, force: true })
    } catch {
      let owner = 0
      try {
        owner = Number(readFileSync(join(LOCK, 'pid'), 'utf8'))
      } catch {
        // Being written: try again.
      }
      if (owner > 0 && !alive(owner)) rmSync(LOCK, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`the lab lock ${LOCK} is held by ${owner}`)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

/** The host's first global IPv4 address outside Docker's bridges (the "other" host address). */
export async function hostAddress(family: 4 | 6): Promise<string | undefined> {
  const out = await sh('ip', `-${family}`, '-o', 'addr', 'show', 'scope', 'global')
  for (const line of out.split('\n')) {
    const match = /^\d+:\s+(\S+)\s+inet6?\s+([^/\s]+)/.exec(line)
    if (match && !/^(lo|docker|br-|veth|np)/.test(match[1]!)) return match[2]
  }
  return undefined
}

/** A GET with node:http (fetch refuses some ports, 53 among them). */
export function httpGet(url: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = get(url, { timeout: timeoutMs }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => resolve(body))
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('timed out')))
    request.on('error', reject)
  })
}
