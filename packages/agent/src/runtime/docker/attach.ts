// Attaching to a running interactive container through the Engine API (no
// docker CLI, nothing inside the image): one hijacked connection carries its
// stdin one way and, without a TTY, Docker's multiplexed frames of stdout and
// stderr the other (8-byte header: stream type, 3 zero bytes, big-endian
// payload size). The frames are split back into two streams here, stdout with
// backpressure (a reader that stops reading stops the container's writes).
import type { Duplex } from 'node:stream'
import { PassThrough, Writable } from 'node:stream'
import type Docker from 'dockerode'
import { DtmaError } from '../../errors.ts'
import type { ContainerAttach } from '../types.ts'
import { statusOf, translateDockerError } from './errors.ts'

const HEADER_BYTES = 8
const STDOUT = 1
const STDERR = 2

/** Docker's frames in, payloads out to stdout or stderr; waits for stdout to drain. */
class FrameSplitter extends Writable {
  private pending: Buffer = Buffer.alloc(0)

  constructor(
    private readonly stdout: PassThrough,
    private readonly stderr: PassThrough
  ) {
    super()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    // The stdout frames of one chunk are handed on together (one read of the reader, not one per frame).
    let out: Buffer | Buffer[] | undefined
    while (this.pending.length >= HEADER_BYTES) {
      const size = this.pending.readUInt32BE(4)
      if (this.pending.length < HEADER_BYTES + size) break
      const type = this.pending[0]
      const payload = this.pending.subarray(HEADER_BYTES, HEADER_BYTES + size)
      this.pending = this.pending.subarray(HEADER_BYTES + size)
      if (type === STDOUT) out = out === undefined ? payload : Array.isArray(out) ? (out.push(payload), out) : [out, payload]
      // stderr never holds stdout up: its reader drains it or drops it.
      else if (type === STDERR && this.stderr.writableLength < this.stderr.writableHighWaterMark) this.stderr.write(payload)
    }
    const blocked = out !== undefined && !this.stdout.write(Array.isArray(out) ? Buffer.concat(out) : out)
    if (blocked) this.stdout.once('drain', () => done())
    else done()
  }

  override _final(done: () => void): void {
    this.stdout.end()
    this.stderr.end()
    done()
  }
}

export async function attachContainer(docker: Docker, id: string): Promise<ContainerAttach> {
  const container = docker.getContainer(id)
  let info: Docker.ContainerInspectInfo
  try {
    info = await container.inspect()
  } catch (error) {
    if (statusOf(error) === 404) throw new DtmaError('not-found', `container ${id} is gone`)
    throw translateDockerError(error, `inspect container ${id}`)
  }
  // Docker would hold an attach to a stopped container open until it starts.
  if (!info.State.Running) throw new DtmaError('conflict', `container ${id} is not running`)
  if (!info.Config.OpenStdin) {
    throw new DtmaError('invalid', `container ${id} was made without an open stdin (by an earlier DTMA): remove the instance and deploy it again to reach its stdio server`)
  }
  let connection: Duplex
  try {
    connection = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex
  } catch (error) {
    throw translateDockerError(error, `attach to container ${id}`)
  }
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const splitter = new FrameSplitter(stdout, stderr)
  connection.pipe(splitter)
  const end = () => {
    if (!splitter.writableEnded) splitter.end()
  }
  connection.once('close', end)
  connection.once('error', () => {
    end()
    connection.destroy()
  })
  return {
    stdin: connection,
    stdout,
    stderr,
    close: () => connection.destroy()
  }
}
