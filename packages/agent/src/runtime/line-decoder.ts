// Newline-delimited text from a byte stream, as Docker sends its event
// stream: chunks are decoded as one UTF-8 text (a character split across two
// chunks stays whole), lines end at LF (a CR before it is dropped), and a
// line longer than maxLineBytes is skipped whole and reported, so one bad
// line can neither grow the buffer without bound nor stop the reader.
import { StringDecoder } from 'node:string_decoder'

export interface LineDecoderOptions {
  maxLineBytes: number
  /** A line skipped for its length (the reader goes on after its end). */
  onOversized?: () => void
}

export class LineDecoder {
  private readonly decoder = new StringDecoder('utf8')
  private buffered = ''
  /** True while the rest of an oversized line is being skipped. */
  private skipping = false

  constructor(private readonly options: LineDecoderOptions) {}

  /** The complete lines this chunk ends (without their line ends). */
  push(chunk: Buffer): string[] {
    let text = this.decoder.write(chunk)
    const lines: string[] = []
    let newline: number
    while ((newline = text.indexOf('\n')) >= 0) {
      const line = this.buffered + text.slice(0, newline)
      text = text.slice(newline + 1)
      this.buffered = ''
      if (this.skipping) {
        this.skipping = false
        continue
      }
      if (Buffer.byteLength(line) > this.options.maxLineBytes) {
        this.options.onOversized?.()
        continue
      }
      lines.push(line.endsWith('\r') ? line.slice(0, -1) : line)
    }
    if (this.skipping) return lines
    this.buffered += text
    if (Buffer.byteLength(this.buffered) > this.options.maxLineBytes) {
      this.buffered = ''
      this.skipping = true
      this.options.onOversized?.()
    }
    return lines
  }

  /** What is left when the stream ends: a last line without its line end, if any. */
  end(): string[] {
    const rest = this.buffered + this.decoder.end()
    this.buffered = ''
    return rest === '' || this.skipping ? [] : [rest]
  }
}
