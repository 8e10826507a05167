// Real MCP clients for the fidelity tests, each driven the way its users run
// it and each reduced to a transcript of what it saw, step by step, so that a
// session directly against a server and one through DTMA can be compared:
// the official SDK at the current version and at 1.22 (protocol 2025-06-18),
// `mcp-remote` (a child process bridging a remote server to stdio, with the
// current SDK's stdio client on it) and the MCP Inspector's CLI (a child
// process per method). The SDK transcripts hold the raw JSON-RPC answers
// (id, result or error with its code, message and data) and the progress
// notifications of each call.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { Client as Client122 } from 'mcp-sdk-1-22/client/index.js'
import { StdioClientTransport as StdioClientTransport122 } from 'mcp-sdk-1-22/client/stdio.js'
import { StreamableHTTPClientTransport as StreamableHTTPClientTransport122 } from 'mcp-sdk-1-22/client/streamableHttp.js'
import type { RealServer, Target, ToolCall } from './real-servers.ts'

export interface Transcript {
  /** Step -> what the client saw; compared as a whole, direct against through DTMA. */
  steps: Record<string, unknown>
  /** The client got through initialize and tools/list. */
  works: boolean
  /** The first thing that failed, for the matrix. */
  failure?: string
  ms: number
}

export interface FidelityClient {
  name: string
  /** Whether it reaches this target itself (mcp-remote reaches only http servers). */
  reaches(target: Target): boolean
  run(target: Target, server: RealServer): Promise<Transcript>
}

/** Steps that exist only on one transport, compared only when both sides have them. */
export const TRANSPORT_STEPS = new Set(['session end'])

// Their programs, run as their users run them (`npx mcp-remote`, `npx @modelcontextprotocol/inspector --cli`).
const resolve = createRequire(import.meta.url).resolve
const MCP_REMOTE = resolve('mcp-remote/dist/proxy.js')
const INSPECTOR = resolve('@modelcontextprotocol/inspector/clients/launcher/build/index.js')
const UNKNOWN_TOOL: ToolCall = { name: 'dtma-no-such-tool', arguments: {} }
const REQUEST = { timeout: 20_000 }

// The two SDK versions, as far as the transcripts use them.
interface SdkTransport {
  start(): Promise<void>
  // A method's parameters are compared both ways: each SDK's own message type fits.
  onmessage?(message: unknown, extra?: unknown): void
  terminateSession?(): Promise<void>
}
type Progress = { onprogress: (update: { progress: number }) => void } & typeof REQUEST
interface SdkClient {
  connect(transport: SdkTransport, options?: typeof REQUEST): Promise<void>
  getServerCapabilities(): { prompts?: object; resources?: object } | undefined
  listTools(params?: undefined, options?: typeof REQUEST): Promise<unknown>
  callTool(params: ToolCall, schema: undefined, options: Progress): Promise<unknown>
  listPrompts(params?: undefined, options?: typeof REQUEST): Promise<unknown>
  listResources(params?: undefined, options?: typeof REQUEST): Promise<{ resources: Array<{ uri: string }> }>
  listResourceTemplates(params?: undefined, options?: typeof REQUEST): Promise<unknown>
  readResource(params: { uri: string }, options?: typeof REQUEST): Promise<unknown>
  close(): Promise<void>
}
interface Sdk {
  Client: new (info: { name: string; version: string }) => SdkClient
  stdio(command: string, args: string[], env?: Record<string, string>): SdkTransport
  http(target: { url: string; headers: Record<string, string> }): SdkTransport
}

const sdkCurrent = {
  Client: Client as unknown as Sdk['Client'],
  stdio: (command, args, env) => new StdioClientTransport({ command, args, stderr: 'ignore', ...(env && { env }) }),
  http: ({ url, headers }) => new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } })
} satisfies Sdk
const sdk122 = {
  Client: Client122 as unknown as Sdk['Client'],
  stdio: (command, args, env) => new StdioClientTransport122({ command, args, stderr: 'ignore', ...(env && { env }) }),
  http: ({ url, headers }) => new StreamableHTTPClientTransport122(new URL(url), { requestInit: { headers } })
} satisfies Sdk

function isAnswer(message: unknown): boolean {
  return typeof message === 'object' && message !== null && 'id' in message && !('method' in message) && ('result' in message || 'error' in message)
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** One SDK session through the steps: every raw answer the client received, per step. */
async function sdkSession(sdk: Sdk, transport: SdkTransport, server: RealServer, options = { progress: true }): Promise<Transcript> {
  const started = Date.now()
  const answers: unknown[] = []
  const start = transport.start.bind(transport)
  transport.start = async () => {
    const deliver = transport.onmessage
    transport.onmessage = (message, extra) => {
      if (isAnswer(message)) answers.push(message)
      deliver?.(message, extra)
    }
    await start()
  }
  const client = new sdk.Client({ name: 'dtma-fidelity', version: '1.0.0' })
  const steps: Record<string, unknown> = {}
  let failure: string | undefined
  const step = async (name: string, action: (progress: number[]) => Promise<unknown>): Promise<boolean> => {
    const from = answers.length
    const progress: number[] = []
    let error: string | undefined
    try {
      await action(progress)
    } catch (thrown) {
      error = errorText(thrown)
    }
    steps[name] = { answers: answers.slice(from), ...(options.progress && progress.length > 0 && { progress }), ...(error !== undefined && { error }) }
    return error === undefined
  }
  const works = (await step('initialize', () => client.connect(transport, REQUEST))) && (await step('tools/list', () => client.listTools(undefined, REQUEST)))
  if (!works) failure = Object.values(steps).map((value) => (value as { error?: string }).error).find(Boolean)
  if (works) {
    for (const [index, call] of [...server.calls, UNKNOWN_TOOL].entries()) {
      await step(`tools/call ${index} ${call.name}`, (progress) => client.callTool(call, undefined, { ...REQUEST, onprogress: (update) => progress.push(update.progress) }))
    }
    const capabilities = client.getServerCapabilities() ?? {}
    if (capabilities.prompts) await step('prompts/list', () => client.listPrompts(undefined, REQUEST))
    if (capabilities.resources) {
      let first: string | undefined
      await step('resources/list', async () => (first = (await client.listResources(undefined, REQUEST)).resources[0]?.uri))
      await step('resources/templates/list', () => client.listResourceTemplates(undefined, REQUEST))
      if (first !== undefined) await step('resources/read', () => client.readResource({ uri: first as string }, REQUEST))
    }
  }
  // A polite client ends its http session (DELETE); a stdio server's session ends with its stdin.
  if (transport.terminateSession !== undefined && works) await step('session end', () => (transport.terminateSession as () => Promise<void>)())
  await client.close().catch(() => undefined)
  return { steps, works, ...(failure !== undefined && { failure }), ms: Date.now() - started }
}

function sdkClient(name: string, sdk: Sdk): FidelityClient {
  return {
    name,
    reaches: () => true,
    run: (target, server) => sdkSession(sdk, target.kind === 'stdio' ? sdk.stdio(target.command, target.args) : sdk.http(target), server)
  }
}

function headerArgs(headers: Record<string, string>, separator: string): string[] {
  return Object.entries(headers).flatMap(([header, value]) => ['--header', `${header}${separator}${value}`])
}

/** Runs a client in a home of its own, removed after: mcp-remote keeps its OAuth cache there, the Inspector its catalog. */
async function inFreshHome<T>(use: (home: string) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'dtma-fidelity-home-'))
  try {
    return await use(home)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
}

const mcpRemote: FidelityClient = {
  name: 'mcp-remote',
  reaches: (target) => target.kind === 'http',
  run(target, server) {
    if (target.kind !== 'http') throw new Error('mcp-remote reaches only http servers')
    const args = [MCP_REMOTE, target.url, '--transport', 'http-only', '--allow-http', '--silent', ...headerArgs(target.headers, ':')]
    // mcp-remote may pass a call's answer on before its last progress notification (the client
    // then drops that one), directly as through DTMA: its progress is not compared.
    const session = (home: string) => sdkSession(sdkCurrent, sdkCurrent.stdio(process.execPath, args, { PATH: process.env.PATH ?? '', HOME: home }), server, { progress: false })
    return inFreshHome(session)
  }
}

interface Exited {
  code: number | null
  stdout: string
  stderr: string
}

function runProcess(command: string, args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Exited> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text.trim()
  }
}

/** The Inspector's own error line on stderr (a stdio server's log lines pass there too). */
function inspectorError(stderr: string): unknown {
  return stderr
    .split('\n')
    .map((line) => parsed(line))
    .findLast((line) => typeof line === 'object' && line !== null && 'error' in line)
}

const inspector: FidelityClient = {
  name: 'inspector-cli',
  reaches: () => true,
  run: (target, server) => inFreshHome(async (home) => {
    const started = Date.now()
    const targetArgs = target.kind === 'stdio' ? ['--', target.command, ...target.args] : ['--transport', 'http', ...headerArgs(target.headers, ': '), '--', target.url]
    const steps: Record<string, unknown> = {}
    const method = async (name: string, args: string[]) => {
      const { code, stdout, stderr } = await runProcess(process.execPath, [INSPECTOR, '--cli', ...args, ...targetArgs], { HOME: home })
      steps[name] = { exit: code, output: parsed(stdout), error: inspectorError(stderr) }
      return code === 0
    }
    const works = await method('tools/list', ['--method', 'tools/list'])
    if (works) {
      // A process per method: the call that answers and the one that errs (the SDK clients cover the rest).
      for (const [index, call] of server.calls.slice(0, 2).entries()) {
        const toolArgs = Object.entries(call.arguments).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        await method(`tools/call ${index} ${call.name}`, ['--method', 'tools/call', '--tool-name', call.name, ...(toolArgs.length > 0 ? ['--tool-arg', ...toolArgs] : [])])
      }
    }
    const listed = steps['tools/list'] as { error?: { error?: { message?: string } } }
    return { steps, works, ...(!works && { failure: listed.error?.error?.message ?? 'tools/list failed' }), ms: Date.now() - started }
  })
}

/** The clients of the matrix, in its order. */
export const FIDELITY_CLIENTS: FidelityClient[] = [sdkClient('sdk-1.32', sdkCurrent), sdkClient('sdk-1.22', sdk122), mcpRemote, inspector]
