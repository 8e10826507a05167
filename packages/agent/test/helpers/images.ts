// Test images derived from the local busybox test image without a registry
// or a build context: a container of it is committed with another command.
import { docker, TEST_IMAGE } from './agent.ts'

/** Writes "out N" to stdout and "err N" to stderr five times a second. */
export const CHATTY_IMAGE = 'dtma-test/chatty:v1'

/** Ignores SIGTERM: a stop waits the whole stop timeout before Docker kills it. */
export const STUBBORN_IMAGE = 'dtma-test/stubborn:v1'

/** busybox httpd as PID 1, as many tool images run their server: the kernel
 *  drops SIGTERM for a PID 1 without a handler, so a stop waits the whole
 *  stop timeout before Docker kills it. Its own CMD, so a container of it
 *  runs its image's command (as the earlier agent's containers did). */
export const HTTPD_PID1_IMAGE = 'dtma-test/httpd-pid1:v1'

export function ensureHttpdPid1Image(): Promise<string> {
  return ensureDerivedImage(HTTPD_PID1_IMAGE, `CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]`)
}

export function ensureChattyImage(): Promise<string> {
  return ensureDerivedImage(CHATTY_IMAGE, `CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done"]`)
}

export function ensureStubbornImage(): Promise<string> {
  return ensureDerivedImage(STUBBORN_IMAGE, `CMD ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"]`)
}

/** Writes 6000 lines of 1000 bytes (6 MB, over the 4 MiB cap of a log read) at start, then idles. */
export const LOUD_IMAGE = 'dtma-test/loud:v1'

export function ensureLoudImage(): Promise<string> {
  return ensureDerivedImage(LOUD_IMAGE, `CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; line=$(head -c 999 /dev/zero | tr '\\\\0' x); yes $line | head -n 6000; echo loud-done; while true; do sleep 1; done"]`)
}

/** The test image with another CMD under this name, committed once. */
async function ensureDerivedImage(image: string, cmd: string): Promise<string> {
  const present = await docker
    .getImage(image)
    .inspect()
    .then(() => true)
    .catch(() => false)
  if (present) return image
  const container = await docker.createContainer({ Image: TEST_IMAGE })
  try {
    const [repo, tag] = image.split(':') as [string, string]
    await container.commit({ repo, tag, changes: cmd })
  } finally {
    await container.remove({ force: true })
  }
  return image
}
