// Test images derived from the local busybox test image without a registry
// or a build context: a container of it is committed with another command.
import { docker, TEST_IMAGE } from './agent.ts'

/** Writes "out N" to stdout and "err N" to stderr five times a second. */
export const CHATTY_IMAGE = 'dtma-test/chatty:v1'

const CHATTY_CMD = `CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done"]`

export async function ensureChattyImage(): Promise<string> {
  const present = await docker
    .getImage(CHATTY_IMAGE)
    .inspect()
    .then(() => true)
    .catch(() => false)
  if (present) return CHATTY_IMAGE
  const container = await docker.createContainer({ Image: TEST_IMAGE })
  try {
    const [repo, tag] = CHATTY_IMAGE.split(':') as [string, string]
    await container.commit({ repo, tag, changes: CHATTY_CMD })
  } finally {
    await container.remove({ force: true })
  }
  return CHATTY_IMAGE
}

/** Ignores SIGTERM: a stop waits the whole stop timeout before Docker kills it. */
export const STUBBORN_IMAGE = 'dtma-test/stubborn:v1'

export async function ensureStubbornImage(): Promise<string> {
  const present = await docker
    .getImage(STUBBORN_IMAGE)
    .inspect()
    .then(() => true)
    .catch(() => false)
  if (present) return STUBBORN_IMAGE
  const container = await docker.createContainer({ Image: TEST_IMAGE })
  try {
    const [repo, tag] = STUBBORN_IMAGE.split(':') as [string, string]
    await container.commit({ repo, tag, changes: `CMD ["/bin/sh", "-c", "trap '' TERM; while true; do sleep 1; done"]` })
  } finally {
    await container.remove({ force: true })
  }
  return STUBBORN_IMAGE
}
