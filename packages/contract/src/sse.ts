// Reads a server-sent events stream (GET /events) from a fetch Response into
// { event, data } messages. Web streams only, so it runs in Node and Deno.
// The parsing is eventsource-parser's, to the WHATWG spec: lines end at CR,
// LF or CRLF (also when a CRLF is split between two chunks), a BOM is
// dropped, comments (keep-alives) and events without data are skipped; an
// event the stream ends in the middle of is dropped.
import { createParser } from 'eventsource-parser'

export interface ServerSentEvent {
  event: string
  data: string
}

/** Yields each event as it arrives; ends when the stream ends or is aborted. */
export async function* readServerSentEvents(response: Response): AsyncGenerator<ServerSentEvent> {
  if (response.body === null) return
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  const ready: ServerSentEvent[] = []
  const parser = createParser({ onEvent: (message) => ready.push({ event: message.event ?? 'message', data: message.data }) })
  try {
    for (;;) {
      const { value, done } = await reader.read()
      // A CR that ends the stream is a line end (the parser holds one back in case an LF follows).
      parser.feed(done ? '\n' : value)
      // Each event as it came; a consumer that stops early leaves the rest unread.
      while (ready.length > 0) yield ready.shift() as ServerSentEvent
      if (done) return
    }
  } finally {
    reader.releaseLock()
  }
}
