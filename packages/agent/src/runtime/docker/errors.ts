// Docker's errors translated into DtmaError kinds (unavailable, not found,
// conflict, port conflict, invalid, Docker failed), with Docker's own reason
// and none of the HTTP noise dockerode wraps around it.
import { DtmaError } from '../../errors.ts'

export type DockerApiError = Error & { statusCode?: number; code?: string; json?: { message?: string } }

/** Socket errors that mean the engine is not there (or not reachable). */
export const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'])

/** Docker's message without the HTTP noise dockerode wraps around it. */
export function dockerMessage(error: DockerApiError): string {
  return error.json?.message ?? error.message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '')
}

export function statusOf(error: unknown): number | undefined {
  return (error as DockerApiError).statusCode
}

export function isUnreachable(error: unknown): boolean {
  return UNREACHABLE_CODES.has((error as DockerApiError).code ?? '')
}

export function translateDockerError(error: unknown, action: string): DtmaError {
  if (error instanceof DtmaError) return error
  const dockerError = error as DockerApiError
  if (isUnreachable(error)) {
    return new DtmaError('unavailable', `Docker engine unreachable (${dockerError.code}) while trying to ${action}`, { cause: error })
  }
  const message = dockerMessage(dockerError)
  if (/port is already allocated|address already in use/i.test(message)) {
    return new DtmaError('port-conflict', `Host port already in use: ${message}`, { cause: error })
  }
  // Docker refused what it was given (a reference it cannot parse): the caller's input.
  if (dockerError.statusCode === 400) return new DtmaError('invalid', `${action}: ${message}`, { cause: error })
  if (dockerError.statusCode === 404) return new DtmaError('not-found', `${action}: ${message}`, { cause: error })
  if (dockerError.statusCode === 409) return new DtmaError('conflict', `${action}: ${message}`, { cause: error })
  return new DtmaError('docker-failed', `Docker failed to ${action}: ${message}`, { cause: error })
}
