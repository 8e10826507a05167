// What a process tree costs, read from /proc: CPU time (utime + stime of
// /proc/PID/stat) and resident memory (VmRSS), for a process alone or with
// every descendant it has at the time of reading.
import { readdirSync, readFileSync } from 'node:fs'

const TICK_MS = 1000 / 100 // USER_HZ is 100 on Linux

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * TICK_MS }
  } catch {
    return undefined // gone
  }
}

function rssMb(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024
  } catch {
    return 0
  }
}

/** The pids of every live descendant of `root` (not `root` itself). */
export function descendants(root) {
  const children = new Map()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const s = stat(entry)
    if (s === undefined) continue
    const list = children.get(s.ppid) ?? []
    list.push(Number(entry))
    children.set(s.ppid, list)
  }
  const found = []
  const queue = [...(children.get(root) ?? [])]
  while (queue.length > 0) {
    const pid = queue.shift()
    found.push(pid)
    queue.push(...(children.get(pid) ?? []))
  }
  return found
}

/** `pid` and its live descendants. */
export const tree = (pid) => [pid, ...descendants(pid)]

/** CPU ms so far of the processes `pids`. */
export const cpuOf = (pids) => pids.reduce((sum, p) => sum + (stat(p)?.cpuMs ?? 0), 0)

/** RSS in MB of the processes `pids` (pages they share count once per process). */
export const rssOf = (pids) => pids.reduce((sum, p) => sum + rssMb(p), 0)

/** The pid of the Docker daemon, by its command name in /proc (read only). */
export function dockerdPid() {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'dockerd') return Number(entry)
    } catch {
      // gone
    }
  }
  return undefined
}
