#!/usr/bin/env node
// The `dtma` executable: parse, run, and map every failure to its exit code
// with one line on stderr (the agent's own sentence when it refused).
// The token is never printed (but by `dtma token`, whose output it is): errors carry the agent's words or the client's
// (which name the URL, never headers).
import { USAGE, parseInvocation } from './args.ts'
import { readBuildInfo } from '@dtma/contract/build-info'
import { runCommand } from './commands.ts'
import { ExitCode, RefusedError, UsageError, exitCodeOf } from './errors.ts'
import { mintToken, ownCallToken } from './token-command.ts'

const interrupt = new AbortController()
process.once('SIGINT', () => interrupt.abort())
let json = false

try {
  const invocation = parseInvocation(process.argv.slice(2), process.env)
  json = invocation.json
  if (invocation.command === 'help') {
    process.stdout.write(USAGE + '\n')
  } else if (invocation.command === 'version') {
    const { version, commit } = readBuildInfo()
    process.stdout.write(`dtma ${version} (commit ${commit})\n`)
  } else if (invocation.command === 'token') {
    process.stdout.write(`${await mintToken(invocation.mint, process.env)}\n`)
  } else {
    // No token given: on the toolbox itself the CLI signs one for this call with the toolbox's secret.
    const token = invocation.token ?? (await ownCallToken(invocation.command, process.env))
    await runCommand({ ...invocation, token }, {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      stderrIsTty: process.stderr.isTTY === true,
      interrupt: interrupt.signal
    })
  }
  process.exitCode = ExitCode.ok
} catch (error) {
  if (json && error instanceof RefusedError) process.stdout.write(JSON.stringify(error.body, null, 2) + '\n')
  process.stderr.write(`dtma: ${(error as Error).message}\n`)
  if (error instanceof UsageError) process.stderr.write(`Run 'dtma --help' for usage.\n`)
  process.exitCode = exitCodeOf(error)
}
