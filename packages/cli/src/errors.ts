// The CLI's failures and their exit codes, in one place, so scripts can tell
// "you typed it wrong" from "the agent said no" from "no agent there".
import { DtmaClientError } from '@dtma/contract'

export const ExitCode = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const

/** The command line is wrong; nothing was sent. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

/** The agent answered with an error body; `message` is its sentence. */
export class RefusedError extends Error {
  override readonly name = 'RefusedError'
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown
  ) {
    super(message)
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return ExitCode.usage
  if (error instanceof RefusedError) return ExitCode.refused
  if (error instanceof DtmaClientError) return ExitCode.unreachable
  return ExitCode.refused
}
