// Draws the image pull of a deploy from the agent's `pull` events: one bar
// redrawn in place on a terminal, a line per tenth (and per finished layer)
// otherwise, so a log file gets a readable record instead of a flood.
import type { PullProgressEvent } from '@dtma/contract'

interface Layer {
  current: number
  total: number
  done: boolean
}

const BAR_WIDTH = 30
/** Docker's per-layer words; other events ("Pulling from", "Digest: ...")
 *  carry the tag or nothing in their id and are not layers. */
const LAYER_STATUSES = new Set(['Pulling fs layer', 'Waiting', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete', 'Already exists'])

export class PullProgress {
  readonly #layers = new Map<string, Layer>()
  readonly #write: (text: string) => void
  readonly #tty: boolean
  #image = ''
  #lastTenth = -1
  #lastDone = 0
  #drawn = false

  constructor(write: (text: string) => void, tty: boolean) {
    this.#write = write
    this.#tty = tty
  }

  update(event: PullProgressEvent): void {
    this.#image = event.image
    if (event.status.startsWith('Status: ')) {
      // Docker's closing summary ("Downloaded newer image for ...").
      this.finish()
      this.#drawn = false
      this.#write(`pull ${event.status.slice('Status: '.length)}\n`)
      return
    }
    if (event.layer !== undefined && LAYER_STATUSES.has(event.status)) {
      const layer = this.#layers.get(event.layer) ?? { current: 0, total: 0, done: false }
      if (event.total !== undefined && event.total > 0) layer.total = event.total
      if (event.current !== undefined && event.status === 'Downloading') layer.current = event.current
      // Docker reports "Download complete" before extraction; a layer counts
      // as done only once extracted ("Pull complete") or already present.
      if (event.status === 'Download complete') layer.current = layer.total
      if (event.status === 'Pull complete' || event.status === 'Already exists') {
        layer.current = layer.total
        layer.done = true
      }
      this.#layers.set(event.layer, layer)
      this.#draw()
    }
  }

  /** Ends the bar's line; call once the deploy answered. */
  finish(): void {
    if (this.#drawn && this.#tty) this.#write('\n')
  }

  #draw(): void {
    const layers = [...this.#layers.values()]
    const total = layers.reduce((sum, layer) => sum + layer.total, 0)
    const current = layers.reduce((sum, layer) => sum + Math.min(layer.current, layer.total), 0)
    const done = layers.filter((layer) => layer.done).length
    const allDone = layers.length > 0 && done === layers.length
    const fraction = allDone ? 1 : total > 0 ? current / total : 0
    const percent = Math.floor(fraction * 100)
    const filled = Math.round(fraction * BAR_WIDTH)
    const text = `pull ${this.#image} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${String(percent).padStart(3)}% ${done}/${layers.length} layers ${megabytes(current)}/${megabytes(total)} MB`
    if (this.#tty) {
      this.#write(`\r${text}\x1b[K`)
      this.#drawn = true
      return
    }
    const tenth = Math.floor(percent / 10)
    if (tenth === this.#lastTenth && done === this.#lastDone) return
    this.#lastTenth = tenth
    this.#lastDone = done
    this.#write(text + '\n')
    this.#drawn = true
  }
}

function megabytes(bytes: number): string {
  return (bytes / 1_000_000).toFixed(1)
}
