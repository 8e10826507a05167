// What this build is, for the agent and the CLI alike: the build-info.json a
// release build writes at the root of the installed tree (this module is at
// packages/contract/dist/, three levels below it), or the source tree's
// version. Node only, so it is a subpath of its own (@dtma/contract/build-info)
// and stays out of what the edge functions import.
import { readFileSync } from 'node:fs'
import { BUILD_INFO_FILE, parseBuildInfo, type BuildInfo } from './fleet.ts'

/** The version of a build from source. */
const SOURCE_VERSION = '0.1.0'

export function readBuildInfo(): BuildInfo {
  let text: string | undefined
  try {
    text = readFileSync(new URL(`../../../${BUILD_INFO_FILE}`, import.meta.url), 'utf8')
  } catch {
    text = undefined
  }
  return parseBuildInfo(text, { version: SOURCE_VERSION, commit: 'unknown' })
}
