// Images on the Docker engine: whether one is present, and pulls with a
// deadline of their own (separate from any request timeout) and progress.
// An image name goes into Docker API paths, so it is checked here whoever calls.
import { ImageReference } from '@dtma/contract'
import type Docker from 'dockerode'
import { Value } from 'typebox/value'
import { DtmaError } from '../../errors.ts'
import type { ImageDefaults, PullProgress } from '../types.ts'
import { processSettings } from './containers.ts'
import { dockerMessage, isUnreachable, statusOf, translateDockerError, type DockerApiError } from './errors.ts'

/** `../x` in an image name makes Docker answer a redirect that docker-modem
 *  follows to a host named `x` and fails with an unhandled error, which
 *  crashes the process. */
function assertImageReference(image: string): void {
  if (!Value.Check(ImageReference, image as unknown)) throw new DtmaError('invalid', `dockerImageUrl: '${image.slice(0, 80)}' is not a valid image reference`)
}

export async function hasImage(docker: Docker, image: string): Promise<boolean> {
  assertImageReference(image)
  try {
    await docker.getImage(image).inspect()
    return true
  } catch (error) {
    if (statusOf(error) === 404) return false
    throw translateDockerError(error, `inspect image ${image}`)
  }
}

export async function imageDefaults(docker: Docker, image: string): Promise<ImageDefaults> {
  try {
    const config = (await docker.getImage(image).inspect()).Config
    return { labels: config?.Labels ?? {}, env: config?.Env ?? [], process: processSettings(config as Parameters<typeof processSettings>[0]) }
  } catch (error) {
    if (statusOf(error) === 404) return { labels: {}, env: [], process: undefined }
    throw translateDockerError(error, `inspect image ${image}`)
  }
}

export async function pullImage(docker: Docker, image: string, timeoutMs: number, onProgress: (progress: PullProgress) => void): Promise<void> {
  assertImageReference(image)
  let stream: NodeJS.ReadableStream | undefined
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DtmaError('pull-failed', `Pull of image ${image} timed out after ${timeoutMs} ms`)), timeoutMs)
  })
  const pull = (async () => {
    stream = await docker.pull(image)
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream as NodeJS.ReadableStream,
        (error: Error | null) => (error ? reject(error) : resolve()),
        (event: { status?: string; id?: string; progressDetail?: { current?: number; total?: number } }) =>
          onProgress({ status: event.status ?? '', id: event.id, current: event.progressDetail?.current, total: event.progressDetail?.total })
      )
    })
  })()
  try {
    await Promise.race([pull, deadline])
  } catch (error) {
    if (error instanceof DtmaError) throw error
    if (isUnreachable(error)) throw translateDockerError(error, `pull image ${image}`)
    throw new DtmaError('pull-failed', `Pull of image ${image} failed: ${dockerMessage(error as DockerApiError)}`, { cause: error })
  } finally {
    clearTimeout(timer)
    pull.catch(() => undefined)
    ;(stream as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined)?.destroy?.()
  }
}
