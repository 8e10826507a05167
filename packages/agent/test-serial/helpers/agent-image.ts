// The agent image as the serial tests build it: docker/Dockerfile, unmodified,
// on the local stand-in of node:24-bookworm-slim where no registry is
// reachable, with a version and commit baked in. Layers are cached, so a
// second build of the same sources (another tag, another version) takes
// seconds. Also the images an upgrade is tested with: the earlier agent's
// stand-in, and an agent image that never gets ready.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const run = promisify(execFile)
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

/** The commit of the sources, or 'unknown' outside a git checkout. */
export async function sourceCommit(): Promise<string> {
  return (await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).catch(() => ({ stdout: 'unknown' }))).stdout.trim()
}

export async function buildAgentImage(tag: string, build: { version: string; commit: string }): Promise<void> {
  await run('bash', ['docker/standin-node-image.sh'], { cwd: ROOT })
  await run('docker', ['build', '-f', 'docker/Dockerfile', '-t', tag, '--build-arg', `DTMA_VERSION=${build.version}`, '--build-arg', `DTMA_COMMIT=${build.commit}`, '.'], {
    cwd: ROOT,
    env: { ...process.env, DOCKER_BUILDKIT: '0' },
    maxBuffer: 64 * 1024 * 1024
  })
}

/** The earlier agent's stand-in (test-images/earlier-agent). */
export async function buildEarlierAgentImage(tag: string): Promise<void> {
  await run('bash', ['docker/standin-node-image.sh'], { cwd: ROOT })
  await run('docker', ['build', '-q', '-t', tag, 'test-images/earlier-agent'], { cwd: ROOT, env: { ...process.env, DOCKER_BUILDKIT: '0' } })
}

/** An agent image whose agent exits at once: what a bad release looks like. */
export async function buildBrokenImage(tag: string, from: string): Promise<void> {
  const dockerfile = `FROM ${from}\nCMD ["node", "-e", "console.error('broken build'); process.exit(3)"]\n`
  await new Promise<void>((resolve, reject) => {
    const child = execFile('docker', ['build', '-q', '-t', tag, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' } }, (error) => (error ? reject(error) : resolve()))
    child.stdin?.end(dockerfile)
  })
}

export async function removeImages(tags: string[]): Promise<void> {
  await run('docker', ['rmi', ...tags]).catch(() => undefined)
}
