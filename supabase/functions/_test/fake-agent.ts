// A scripted DTMA agent behind an injected fetch, for handler tests that
// need exact control of the agent's answers (errors, 404s, hangs). The
// end-to-end test uses the real agent instead.
export interface AgentCall {
  method: string
  /** decoded path, e.g. /tools/My Tool/start */
  path: string
  body: unknown
  authorization: string | null
}

/** 'hang': never answer, so the client's deadline must fire. */
export type AgentReply = { status: number; body: unknown } | 'hang'

export function fakeAgent(script: (call: AgentCall) => AgentReply): { fetch: typeof fetch; calls: AgentCall[] } {
  const calls: AgentCall[] = []
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input))
    const headers = new Headers(init?.headers)
    const call: AgentCall = {
      method: init?.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      authorization: headers.get('authorization')
    }
    calls.push(call)
    const reply = script(call)
    if (reply === 'hang') {
      return await new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    }
    return Response.json(reply.body, { status: reply.status })
  }) as typeof fetch
  return { fetch: fakeFetch, calls }
}

/** The agent's success replies, shaped as the contract declares them. */
export const agentReplies = {
  deployed(body: { instanceNameOnToolbox: string; accountToolInstanceId: string; dockerImageUrl: string }): AgentReply {
    return {
      status: 201,
      body: {
        success: true,
        message: 'deployed',
        data: {
          container_id: 'c0ffee',
          instance_name_on_toolbox: body.instanceNameOnToolbox,
          account_tool_instance_id: body.accountToolInstanceId,
          image: body.dockerImageUrl,
          ports: [],
          state: 'running',
          image_source: 'local'
        }
      }
    }
  },
  state(state: string): AgentReply {
    return { status: 200, body: { success: true, message: 'ok', data: { state } } }
  },
  error(status: number, code: string, error: string): AgentReply {
    return { status, body: { success: false, error, code } }
  }
}
