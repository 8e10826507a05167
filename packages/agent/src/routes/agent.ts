// Handlers of the routes about the agent process itself, as the DTMA console
// calls them: its system view, its own log lines and a restart (its upgrade,
// POST /redeploy, is a fleet route: routes/fleet.ts).
import { PassThrough } from 'node:stream'
import type { SystemReply } from '@dtma/contract'
import type { Config } from '../config.ts'
import { DtmaError } from '../errors.ts'
import type { InstanceApi } from '../instances/instance-api.ts'
import type { LogTail } from '../log-tail.ts'
import { readSystemMetrics } from '../system/system-metrics.ts'
import type { Handlers } from './register.ts'
import { dockerEngine } from './wire.ts'

export interface AgentRouteDeps {
  config: Config
  instances: InstanceApi
  logTail: LogTail
  /** Exits the process for its supervisor to start it again; absent: this agent cannot restart itself. */
  restart?: () => void
}

/** Lines a log read answers when it names no tail. */
const DEFAULT_TAIL = 100
/** A following client that stops reading is dropped once this much waits for it. */
const MAX_FOLLOW_BACKLOG_BYTES = 1024 * 1024

export function agentHandlers(deps: AgentRouteDeps): Pick<Handlers, 'system' | 'agentLogs' | 'restartAgent'> {
  const { config, instances, logTail } = deps
  return {
    system: async (request, reply) => {
      const body: SystemReply = { timestamp: new Date().toISOString(), ...readSystemMetrics() }
      // Without a valid token (DTMA_PUBLIC_STATUS=minimal) the machine's numbers
      // only: the engine's container counts and the agent process are for callers with one.
      if (config.publicStatus === 'minimal' && (await request.server.grantWith(request, 'tools:read')) === undefined) return { status: 200, body }
      return {
        status: 200,
        body: {
          ...body,
          docker: dockerEngine(await instances.engine()),
          agent: { version: config.version, commit: config.commit, uptime_seconds: Math.floor(process.uptime()), rss_bytes: process.memoryUsage().rss }
        }
      }
    },

    agentLogs: async (request) => {
      const lines = logTail.tail(request.query.tail ?? DEFAULT_TAIL)
      if (request.query.follow !== true) return { status: 200, body: { logs: lines, timestamp: new Date().toISOString() } }
      const stream = new PassThrough()
      for (const line of lines) stream.write(`${line}\n`)
      const stop = logTail.follow((line) => {
        if (stream.writableLength > MAX_FOLLOW_BACKLOG_BYTES) return void stream.destroy()
        stream.write(`${line}\n`)
      })
      stream.once('close', stop)
      return { status: 200, stream }
    },

    restartAgent: async (_request, reply) => {
      const restart = deps.restart
      if (restart === undefined) throw new DtmaError('not-ready', 'This DTMA process was started without a way to restart itself')
      // Exit only once the answer has left, so the caller hears it.
      reply.raw.once('finish', () => restart())
      reply.log.info('restart requested: exiting for the supervisor to start DTMA again; tool containers keep running')
      return { status: 202, body: { success: true, message: 'DTMA is restarting; it answers again in a few seconds. Tool containers keep running.' } }
    }
  }
}
