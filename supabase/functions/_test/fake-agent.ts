// A scripted DTMA agent behind an injected fetch, for handler tests that
// need exact control of the agent's answers (errors, 404s, hangs, broken
// JSON). The end-to-end test uses the real agent instead.
import type { Static } from 'typebox'
import type { DeployToolBody, DeployToolReply, PortMapping, StateReply, StatusReply, ToolInstance } from '../../../packages/contract/src/index.ts'

export interface AgentCall {
  method: string
  /** decoded path, e.g. /tools/My Tool/start */
  path: string
  query: URLSearchParams
  body: unknown
  authorization: string | null
}

/** 'hang': never answer, so the client's deadline must fire. `text`: the
 *  body as given, with its content type (logs, broken JSON, an HTML page). */
export type AgentReply = { status: number; body: unknown } | { status: number; text: string; contentType: string } | 'hang'

export function fakeAgent(script: (call: AgentCall) => AgentReply): { fetch: typeof fetch; calls: AgentCall[] } {
  const calls: AgentCall[] = []
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input))
    const headers = new Headers(init?.headers)
    const call: AgentCall = {
      method: init?.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
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
    if ('text' in reply) return new Response(reply.text, { status: reply.status, headers: { 'content-type': reply.contentType } })
    return Response.json(reply.body, { status: reply.status })
  }) as typeof fetch
  return { fetch: fakeFetch, calls }
}

export const LIMITS = { memory_bytes: 536870912, cpus: 1, pids: 256 }

export function portMapping(containerPort: number, hostPort: number): PortMapping {
  return { container_port: containerPort, protocol: 'tcp', host_ip: '127.0.0.1', host_port: hostPort, ip: '127.0.0.1', private_port: containerPort, public_port: hostPort, type: 'tcp' }
}

export function toolInstance(fields: Partial<ToolInstance> & Pick<ToolInstance, 'account_tool_instance_id' | 'instance_name_on_toolbox' | 'status'>): ToolInstance {
  return {
    container_id: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
    container_name: 'dtma-tool',
    image: 'dtma-test/busybox:v1',
    ports: [],
    created: 1750278276,
    desired_state: 'running',
    docker_status: fields.status === 'running' ? 'running' : 'exited',
    health: 'none',
    mcp: null,
    limits: LIMITS,
    egress: 'internet',
    ...fields
  }
}

/** The agent's replies, shaped as the contract declares them. */
export const agentReplies = {
  deployed(body: DeployToolBody, extra: { ports?: PortMapping[]; warnings?: string[] } = {}): { status: 201; body: Static<typeof DeployToolReply> } {
    return {
      status: 201,
      body: {
        success: true,
        message: `Tool instance '${body.instanceNameOnToolbox}' deployed.`,
        data: {
          container_id: 'c0ffee',
          instance_name_on_toolbox: body.instanceNameOnToolbox,
          account_tool_instance_id: body.accountToolInstanceId,
          image: body.dockerImageUrl,
          ports: extra.ports ?? [],
          state: 'running',
          image_source: 'local',
          mcp: null,
          limits: LIMITS,
          egress: 'internet'
        },
        ...(extra.warnings && { warnings: extra.warnings })
      }
    }
  },
  state(state: Static<typeof StateReply>['data']['state']): { status: 200; body: Static<typeof StateReply> } {
    return { status: 200, body: { success: true, message: 'ok', data: { state } } }
  },
  list(instances: ToolInstance[]): AgentReply {
    return { status: 200, body: { success: true, data: instances } }
  },
  status(instances: ToolInstance[], timestamp = new Date().toISOString()): { status: 200; body: StatusReply } {
    return {
      status: 200,
      body: {
        status: 'healthy',
        service: 'DTMA',
        version: '0.1.0',
        dtma_version: '0.1.0',
        commit: 'unknown',
        timestamp,
        environment: { hasAuthToken: true, hasApiKey: true, hasApiBaseUrl: false, port: '30000' },
        tool_instances: instances
      }
    }
  },
  error(status: number, code: string, error: string): AgentReply {
    return { status, body: { success: false, error, code } }
  }
}
