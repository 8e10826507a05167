// What this CLI build is: build-info.json of a release build at the root of
// the installed tree (dist/bin.js -> ../../../), or the source tree's version.
import { readFileSync } from 'node:fs'
import { BUILD_INFO_FILE, parseBuildInfo, type BuildInfo } from '@dtma/contract'

const SOURCE_VERSION = '0.1.0'

export function buildInfo(): BuildInfo {
  let text: string | undefined
  try {
    text = readFileSync(new URL(`../../../${BUILD_INFO_FILE}`, import.meta.url), 'utf8')
  } catch {
    text = undefined
  }
  return parseBuildInfo(text, { version: SOURCE_VERSION, commit: 'unknown' })
}
