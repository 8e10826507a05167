// fetch for the SDK's client transports to a server in a container: a
// server that does not answer within a few seconds (a container address that
// is gone leaves a connect hanging for minutes) is given up, and everything
// in flight ends when the agent lets the server go. The deadline covers the
// wait for the answer's headers, never the life of an event stream.
const ANSWER_TIMEOUT_MS = 5000

export function boundedFetch(closed: AbortSignal, base: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const late = new AbortController()
    const timer = setTimeout(() => late.abort(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`)), ANSWER_TIMEOUT_MS)
    try {
      return await base(input, { ...init, signal: AbortSignal.any([closed, late.signal, ...(init?.signal ? [init.signal] : [])]) })
    } finally {
      clearTimeout(timer)
    }
  }
}
