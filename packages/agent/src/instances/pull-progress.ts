// Image pull progress of deploys, for the event stream. Docker reports it
// many times a second per layer: listeners hear each new status word of a
// layer and otherwise a few updates a second.
import type { PullProgressEvent } from '@dtma/contract'
import type { Logger } from 'pino'
import type { PullProgress } from '../runtime/types.ts'

export type PullProgressListener = (event: PullProgressEvent) => void

/** Progress of one layer reaches listeners at most this often, besides every change of its status word. */
const PULL_EVENT_INTERVAL_MS = 250

export class PullProgressHub {
  private readonly listeners = new Set<PullProgressListener>()

  constructor(private readonly logger: Logger) {}

  onProgress(listener: PullProgressListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** What the runtime calls with each progress report of one pull. */
  announcer(instanceName: string, image: string): (progress: PullProgress) => void {
    const lastByLayer = new Map<string, { status: string; at: number }>()
    return (progress) => {
      if (this.listeners.size === 0) return
      const layer = progress.id ?? ''
      const now = Date.now()
      const last = lastByLayer.get(layer)
      if (last !== undefined && last.status === progress.status && now - last.at < PULL_EVENT_INTERVAL_MS) return
      lastByLayer.set(layer, { status: progress.status, at: now })
      const event: PullProgressEvent = { instanceName, image, status: progress.status }
      if (progress.id !== undefined) event.layer = progress.id
      if (progress.current !== undefined) event.current = progress.current
      if (progress.total !== undefined) event.total = progress.total
      for (const listener of this.listeners) {
        try {
          listener(event)
        } catch (error) {
          this.logger.error({ err: error, instanceName }, 'pull progress listener failed')
        }
      }
    }
  }
}
