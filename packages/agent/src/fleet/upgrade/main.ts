#!/usr/bin/env node
// dtma-upgrade: the upgrader's entry and composition root (the Docker
// adapter is built here). Runs the upgrade runbook (upgrade.ts) once and
// exits with its outcome.
import { DockerAgentHost } from '../../runtime/docker/agent-host.ts'
import { parseInvocation, USAGE, UsageError } from './args.ts'
import { Report } from './report.ts'
import { Upgrade } from './upgrade.ts'

const EXIT = { succeeded: 0, 'rolled-back': 1, unchanged: 1, usage: 2, broken: 3 } as const

try {
  const invocation = parseInvocation(process.argv.slice(2))
  if (invocation.help) {
    process.stdout.write(`${USAGE}\n`)
  } else {
    const report = new Report(invocation.operationId, (line) => process.stdout.write(`${line}\n`), invocation.json)
    const outcome = await new Upgrade(new DockerAgentHost(invocation.socket), invocation.upgrade, report).run()
    process.exitCode = EXIT[outcome]
  }
} catch (error) {
  process.stderr.write(`dtma-upgrade: ${(error as Error).message}\n`)
  if (error instanceof UsageError) process.stderr.write("Run 'dtma-upgrade --help' for usage.\n")
  process.exitCode = error instanceof UsageError ? EXIT.usage : EXIT.broken
}
