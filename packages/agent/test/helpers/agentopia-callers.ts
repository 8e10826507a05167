// Replicas of Agentopia's deployed callers of DTMA: each sends exactly what
// the real one sends (headers, encodings, bodies, the old port default) and
// reads the answer the way the real one does, so a test proves that the
// agent serves the callers that exist, not only our own typed client.
// Each function throws where its original throws (a non-2xx answer).

/** A failed call, as the caller would throw it. */
export class CallerError extends Error {
  constructor(
    readonly status: number,
    readonly text: string
  ) {
    super(`DTMA answered ${status}: ${text}`)
  }
}

async function send(url: string, init: RequestInit & { timeoutMs?: number }): Promise<Response> {
  return fetch(url, { ...init, ...(init.timeoutMs !== undefined && { signal: AbortSignal.timeout(init.timeoutMs) }) })
}

/** The Docker-shaped override the old toolbox-tools sent on every deploy and
 *  on its re-deploy after a 404: host port "30000", the agent's own port in
 *  production, always (a test whose agent cannot listen on 30000 names its own). */
export function toolboxToolsOverride(env: Record<string, string>, agentPort = 30000): Record<string, unknown> {
  return { Env: Object.entries(env).map(([key, value]) => `${key}=${value}`), HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: String(agentPort) }] } } }
}

/** What the admin MCP service stores and ToolInstanceService passes on:
 *  host port 30000, the agent's own in production, by default. */
export function adminServiceOverride(dockerImage: string, env: Record<string, string>, agentPort = 30000): Record<string, unknown> {
  return { dockerImage, environmentVariables: env, portMappings: [{ containerPort: 8080, hostPort: agentPort }] }
}

/** What the MCP service stores: a dockerImage that differs from the catalog's, MCP keys, metadata. */
export function mcpServiceOverride(): Record<string, unknown> {
  return {
    dockerImage: 'default-mcp-server:latest',
    mcpTransport: 'stdio',
    mcpCapabilities: ['tools'],
    mcpEndpoint: '/mcp',
    mcpPort: 8080,
    templateId: 'template-context7',
    environment: 'development',
    resourceLimits: { memory: '256Mi', cpu: '0.2', storage: '1Gi' },
    configuration: {}
  }
}

/** toolbox-tools' callDTMA: `Content-Type: application/json` and the bearer
 *  key on every request, a JSON body only when there is one; a non-2xx
 *  throws with the answer's text; a 2xx is read with response.json(). The
 *  instance name in `endpoint` is percent-encoded by the caller. */
export async function callDTMA(baseUrl: string, apiKey: string, method: string, endpoint: string, body?: unknown): Promise<any> {
  const response = await send(`${baseUrl}${endpoint}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: body ? JSON.stringify(body) : undefined
  })
  if (!response.ok) throw new CallerError(response.status, await response.text())
  return response.json()
}

/** ToolInstanceService's callDtmaApi: the same headers, the RAW instance name
 *  in the path (fetch encodes its spaces), JSON when the answer says JSON and
 *  `{ success: true, message: <text> }` otherwise. */
export async function callDtmaApi(baseUrl: string, apiKey: string, method: 'POST' | 'DELETE', path: string, payload?: object): Promise<any> {
  const response = await send(`${baseUrl}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: payload ? JSON.stringify(payload) : undefined
  })
  if (!response.ok) throw new CallerError(response.status, await response.text())
  const contentType = response.headers.get('content-type')
  if (contentType && contentType.indexOf('application/json') !== -1) return response.json()
  return { success: true, message: (await response.text()) || 'DTMA request successful' }
}

/** ToolInstanceService.deployToolToToolbox: the image from the catalog's
 *  package_identifier and the stored override as it is (null included). */
export async function instanceServiceDeploy(baseUrl: string, apiKey: string, body: { image: string; name: string; id: string; override: unknown }): Promise<any> {
  const response = await send(`${baseUrl}/tools`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ dockerImageUrl: body.image, instanceNameOnToolbox: body.name, accountToolInstanceId: body.id, baseConfigOverrideJson: body.override })
  })
  if (!response.ok) throw new CallerError(response.status, await response.text())
  return response.json()
}

/** GET /status as the token-less readers send it (toolbox-tools' list with a
 *  JSON content type, the health monitor, the DTMA console: 10 s deadline),
 *  or with the bearer token as the refresh operation does. */
export async function readStatus(baseUrl: string, token?: string): Promise<any> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (token !== undefined) headers.Authorization = `Bearer ${token}`
  const response = await send(`${baseUrl}/status`, { headers, timeoutMs: 10_000 })
  if (!response.ok) throw new CallerError(response.status, await response.text())
  return response.json()
}

/** The DTMA console function's agent calls (POST /restart 10 s, /redeploy
 *  30 s, GET /system, GET /logs), with or without a token. */
export async function consoleCall(baseUrl: string, method: 'GET' | 'POST', path: '/restart' | '/redeploy' | '/system' | '/logs', token?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' }
  if (token !== undefined) headers.Authorization = `Bearer ${token}`
  const response = await send(`${baseUrl}${path}`, { method, headers, timeoutMs: path === '/redeploy' ? 30_000 : 10_000 })
  return { status: response.status, body: await response.json() }
}

/** How the backend turns an agent status into its enum (refresh operation). */
export function backendStatus(status: string): string {
  const upper = status.toUpperCase()
  if (upper === 'PENDING' || upper === 'STARTING' || upper === 'STOPPING') return 'deploying'
  if (upper === 'RUNNING') return 'running'
  if (upper === 'STOPPED') return 'stopped'
  return 'error'
}
