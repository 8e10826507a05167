// MCP spoken byte by byte, for tests that compare what a server answers
// directly with what reaches a client through DTMA: Streamable HTTP over
// node:http (any Host, every header as given) and newline-delimited JSON-RPC
// to a stdio server run by `docker run -i`.
import { spawn } from 'node:child_process'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { createInterface } from 'node:readline'
import { docker } from './agent.ts'

export interface RawAnswer {
  status: number
  headers: IncomingHttpHeaders
  text: string
  /** The JSON-RPC messages of a JSON or event-stream body. */
  messages: Array<Record<string, unknown>>
}

export const INITIALIZE = { jsonrpc: '2.0', id: 'init-1', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }
export const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' }

function messagesOf(type: string, text: string): Array<Record<string, unknown>> {
  if (/^application\/json/.test(type)) return [JSON.parse(text)].flat()
  if (!/^text\/event-stream/.test(type)) return []
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as Record<string, unknown>)
}

/** One request; the answer's body read whole. */
export function rawMcp(url: URL, method: string, headers: Record<string, string>, body?: unknown): Promise<RawAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const all = { accept: 'application/json, text/event-stream', ...(payload !== undefined && { 'content-type': 'application/json' }), ...headers }
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, headers: all, signal: AbortSignal.timeout(15_000) }, async (response) => {
      let text = ''
      for await (const chunk of response) text += (chunk as Buffer).toString('utf8')
      const type = response.headers['content-type'] ?? ''
      resolve({ status: response.statusCode ?? 0, headers: response.headers, text, messages: messagesOf(type, text) })
    })
    outgoing.once('error', reject)
    outgoing.end(payload)
  })
}

/** initialize and initialized; the headers of the session opened. */
export async function rawSession(url: URL, headers: Record<string, string>): Promise<Record<string, string>> {
  const opened = await rawMcp(url, 'POST', headers, INITIALIZE)
  const session = opened.headers['mcp-session-id']
  if (opened.status !== 200 || typeof session !== 'string') throw new Error(`initialize answered ${opened.status}: ${opened.text.slice(0, 300)}`)
  const inSession = { ...headers, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' }
  await rawMcp(url, 'POST', inSession, INITIALIZED)
  return inSession
}

/** The answer to one request of a stdio server run directly, by `docker run -i`. */
export async function stdioDirect(image: string, env: string[], request: { id: string | number; method: string; params?: unknown }): Promise<Record<string, unknown>> {
  const child = spawn('docker', ['run', '-i', '--rm', ...env.flatMap((entry) => ['-e', entry]), image], { stdio: ['pipe', 'pipe', 'ignore'] })
  try {
    const lines = createInterface({ input: child.stdout })
    const write = (message: unknown) => child.stdin.write(`${JSON.stringify(message)}\n`)
    write(INITIALIZE)
    for await (const line of lines) {
      const message = JSON.parse(line) as Record<string, unknown>
      if (message.id === INITIALIZE.id) {
        write(INITIALIZED)
        write({ jsonrpc: '2.0', ...request })
      } else if (message.id === request.id) return message
    }
    throw new Error('the server ended without an answer')
  } finally {
    child.kill()
  }
}

/** The address of a container on its network: where the agent reaches it. */
export async function containerAddress(containerId: string): Promise<string> {
  const info = await docker.getContainer(containerId).inspect()
  const address = Object.values(info.NetworkSettings.Networks ?? {}).find((network) => network.IPAddress)?.IPAddress
  if (address === undefined) throw new Error('the container has no address')
  return address
}
