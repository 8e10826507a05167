// One file written whole or not at all: a temporary file of the given mode,
// fsynced, renamed over the target, and the directory fsynced so the rename
// survives a crash. A reader never sees half a file (a key, credentials).
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export function writeFileAtomic(target: string, content: string, mode = 0o600): void {
  const temporary = `${target}.${process.pid}.tmp`
  const fd = openSync(temporary, 'w', mode)
  try {
    writeSync(fd, content)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temporary, target)
  const dir = openSync(dirname(target), 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}
