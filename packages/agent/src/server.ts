#!/usr/bin/env node
// Runs DTMA: reads the config, composes the agent (compose.ts), listens,
// and shuts down gracefully on SIGTERM/SIGINT: in-flight
// operations finish within DTMA_SHUTDOWN_TIMEOUT_S (the app's shutdown steps),
// a hang past it exits 1, and a second signal exits at once. POST /restart
// shuts down the same way and exits with RESTART_EXIT_CODE for the
// supervisor (Docker's restart policy, systemd) to start DTMA again.
import { composeAgent } from './compose.ts'
import { ConfigError, loadConfig } from './config.ts'
import { RETIRED_SETTINGS } from './config-schema.ts'
import { EnrolmentRefused, enrolledConfig } from './enrolment/enrolment.ts'
import { LogTail } from './log-tail.ts'
import { createLogger } from './logger.ts'

const SHUTDOWN_GRACE_MS = 2000
/** EX_TEMPFAIL: "exited to be started again"; a restart policy of `always`
 *  or `on-failure` brings the agent back. */
const RESTART_EXIT_CODE = 75

async function main(): Promise<void> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`dtma: ${error.message}\n`)
    process.exit(78) // EX_CONFIG
  }
  const logTail = new LogTail()
  const logger = createLogger(config.logLevel, undefined, logTail)
  for (const setting of config.ignoredSettings) {
    logger.warn({ setting }, `${setting} is set but no longer read: ${RETIRED_SETTINGS[setting as keyof typeof RETIRED_SETTINGS]}`)
  }
  try {
    config = await enrolledConfig(config, logger)
  } catch (error) {
    // A dead enrolment token cannot come back to life: say what to do, and stop.
    if (!(error instanceof EnrolmentRefused)) throw error
    logger.fatal({ status: error.status }, error.message)
    process.exit(78) // EX_CONFIG
  }
  const { app } = await composeAgent({ config, logger, logTail, restart: () => shutdown('restart requested', RESTART_EXIT_CODE) })

  let closing = false
  const shutdown = (reason: string, exitCode = 0): void => {
    if (closing) {
      logger.warn({ reason }, 'second signal: exiting now')
      process.exit(1)
    }
    closing = true
    logger.info({ reason, timeoutMs: config.shutdownTimeoutMs }, 'shutting down')
    // The app bounds its own steps; this catches what they cannot (a hook
    // that never returns), with a moment for the app to finish on its own.
    setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown took too long: exiting now')
      process.exit(1)
    }, config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS).unref()
    app.close().then(
      () => process.exit(exitCode),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed')
        process.exit(1)
      }
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))

  await app.listen({ port: config.port, host: config.host })
  logger.info({ port: config.port, host: config.host, https: config.tls !== undefined, dataDir: config.dataDir, version: config.version }, 'DTMA ready')
}

main().catch((error: unknown) => {
  process.stderr.write(`dtma: fatal: ${(error as Error).stack ?? String(error)}\n`)
  process.exit(1)
})
