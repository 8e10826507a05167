// Graceful shutdown in two ordered phases within one time budget, so every
// module can add its part without knowing the others:
// - `drain` steps run before the listener closes (preClose): new requests get
//   a 503 from then on, in-flight operations finish, open streams end. When
//   the budget runs out, the remaining connections are closed so the rest of
//   the shutdown is not held by a request that will never finish. After a
//   drain, connections still open a moment later are closed too: the
//   listener closes only the idle ones, and a keep-alive connection that a
//   request used during the drain would otherwise hold the exit for as long
//   as its client keeps it.
// - `flush` steps run after the listener has closed (onClose): flush the
//   registry outbox, close the store. They get what is left of the budget.
// Steps run in the order they were added; a failing or late step is logged
// and the next one runs. Fastify's own onClose hooks run last-added first,
// which is why the order lives here.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { DtmaError } from '../../errors.ts'

export type ShutdownPhase = 'drain' | 'flush'

declare module 'fastify' {
  interface FastifyInstance {
    addShutdownStep: (phase: ShutdownPhase, name: string, step: () => unknown) => void
  }
}

export interface ShutdownOptions {
  timeoutMs: number
}

/** How long connections may finish on their own after the drain. */
const LINGER_MS = 500

interface Step {
  name: string
  run: () => unknown
}

async function shutdownPlugin(app: FastifyInstance, options: ShutdownOptions): Promise<void> {
  const steps: Record<ShutdownPhase, Step[]> = { drain: [], flush: [] }
  let deadline: number | undefined

  app.decorate('addShutdownStep', (phase: ShutdownPhase, name: string, run: () => unknown) => {
    steps[phase].push({ name, run })
  })

  /** Runs the steps of a phase; false when the budget ran out. */
  async function runPhase(phase: ShutdownPhase): Promise<boolean> {
    for (const step of steps[phase]) {
      const remainingMs = (deadline ?? 0) - Date.now()
      if (remainingMs <= 0) {
        app.log.warn({ phase, step: step.name }, 'shutdown budget spent: step skipped')
        return false
      }
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), remainingMs)))
      try {
        const outcome = await Promise.race([Promise.resolve().then(step.run), late])
        if (outcome === 'late') {
          app.log.warn({ phase, step: step.name, timeoutMs: options.timeoutMs }, 'shutdown step did not finish within the budget')
          return false
        }
      } catch (error) {
        app.log.error({ err: error, phase, step: step.name }, 'shutdown step failed')
      } finally {
        clearTimeout(timer)
      }
    }
    return true
  }

  // Fastify's own 503 while closing is not the contract's error body. (A callback hook: no promise per request.)
  app.addHook('onRequest', (_request, _reply, done) => {
    done(deadline === undefined ? undefined : new DtmaError('not-ready', 'DTMA is shutting down'))
  })

  app.addHook('preClose', async () => {
    deadline = Date.now() + options.timeoutMs
    const started = Date.now()
    if (!(await runPhase('drain'))) app.server.closeAllConnections()
    app.log.info({ ms: Date.now() - started }, 'shutdown: drained')
    setTimeout(() => {
      app.server.getConnections((_error, open) => {
        if (open === 0) return
        app.log.info({ connections: open }, 'shutdown: closing the connections still open')
        app.server.closeAllConnections()
      })
    }, LINGER_MS).unref()
  })

  app.addHook('onClose', async () => {
    deadline ??= Date.now() + options.timeoutMs
    await runPhase('flush')
  })
}

export default fp(shutdownPlugin, { name: 'dtma-shutdown', fastify: '5.x' })
