// A caller's session of a multiplexed server (stdio, sse) held to what its
// credential grants (tool-grant.ts): a refused tools/call is answered here
// and never reaches the multiplexer, and the answers to its tools/list
// requests are cut to the granted tools (and those the drift lock does not
// withhold). Everything else passes untouched. The session's calls and their
// answers (refusals included) are told to its call watch (call-watch.ts), if
// it has one; what is unanswered when the session closes is lost.
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js'
import type { CallWatch } from './call-watch.ts'
import type { SessionPipe } from './mux-session.ts'
import { isRefusedCall, refusalOf, withGrantedTools, type McpAccess } from './tool-grant.ts'

export function grantedPipe(pipe: SessionPipe, access: McpAccess, watch?: CallWatch): SessionPipe {
  /** The ids of this session's tools/list requests whose answers are still to come. */
  const listing = new Set<RequestId>()
  const granted: SessionPipe = {
    send(message: JSONRPCMessage) {
      const { id, method } = message as { id?: RequestId; method?: string }
      watch?.request(message)
      if (isRefusedCall(message, access)) {
        const refusal = refusalOf(message, access)
        if (refusal !== undefined) {
          granted.onmessage?.(refusal, id)
          watch?.answer(refusal, true)
        }
        return
      }
      if (method === 'tools/list' && id !== undefined) listing.add(id)
      pipe.send(message)
    },
    close: () => pipe.close()
  }
  pipe.onmessage = (message, relatedRequestId) => {
    const { id, method } = message as { id?: RequestId; method?: string }
    const answer = method === undefined && id !== undefined && listing.delete(id)
    granted.onmessage?.(answer ? withGrantedTools(message, access) : message, relatedRequestId)
    // Recorded once the answer is on its way: the caller does not wait for the audit.
    watch?.answer(message)
  }
  pipe.onclose = () => {
    watch?.lost('the session closed before the answer')
    granted.onclose?.()
  }
  return granted
}
