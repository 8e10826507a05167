// Docker multiplexes a container's stdout and stderr into one stream of
// frames (8-byte header: stream type, 3 zero bytes, big-endian payload size).
// This transform turns the frames back into the payload text, and ends the
// output after `maxBytes` so a log read can never grow without bound.
import { Transform, type TransformCallback } from 'node:stream'

const HEADER_BYTES = 8

export class LogDemuxer extends Transform {
  private pending: Buffer = Buffer.alloc(0)
  private remaining: number
  private limitReached = false

  constructor(maxBytes: number) {
    super()
    this.remaining = maxBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    while (this.pending.length >= HEADER_BYTES && this.remaining > 0) {
      const size = this.pending.readUInt32BE(4)
      if (this.pending.length < HEADER_BYTES + size) break
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + size)
      this.pending = this.pending.subarray(HEADER_BYTES + size)
      const kept = payload.subarray(0, this.remaining)
      this.remaining -= kept.length
      this.push(kept)
    }
    if (this.remaining <= 0 && !this.limitReached) {
      this.limitReached = true
      this.push(null)
      // Once the reader has the last bytes, stop reading from Docker.
      this.once('end', () => this.destroy())
    }
    done()
  }
}
