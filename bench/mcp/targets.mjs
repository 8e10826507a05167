// The five ways bench/mcp.mjs reaches the same MCP server (dtma-test/mcp-tools:v1's
// servers/tools.mjs on the official SDK): through DTMA, through supergateway and
// mcp-proxy (installed from npm into a temporary directory, each wrapping the
// server's own files taken out of the image and run by this machine's node, the
// binary the image carries), and the two floors with no bridge: the server spawned
// locally over its stdio, and the server's container attached through the Engine API.
// A target opens sessions (MCP SDK clients) and names the processes to measure:
// `bridgePid` (the bridge alone) and `serverPids()` (every process of the server side:
// one per session for supergateway, one shared for the others).
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { descendants, tree } from './procs.mjs'

const run = promisify(execFile)
export const SUPERGATEWAY = 'supergateway@4.0.0'
export const MCP_PROXY = 'mcp-proxy@6.7.19'
export const SANDBOX = ['--network', 'dtma-tools', '--memory', '512m', '--memory-swap', '512m', '--pids-limit', '256', '--cpus', '1', '--security-opt', 'no-new-privileges:true', '--cap-drop', 'ALL', '--ipc', 'private']
const SERVER_ENV = { PATH: process.env.PATH, NODE_ENV: 'production' }

async function httpSession(url, headers = {}) {
  const client = new Client({ name: 'bench', version: '1' })
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } })
  await client.connect(transport)
  return client
}

async function endHttpSession(client) {
  // DELETE, so a bridge that spawned a server for the session ends it now.
  await client.transport?.terminateSession().catch(() => undefined)
  await client.close()
}

async function untilListening(url, child, what) {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    if (await fetch(url, { method: 'GET' }).then(() => true, () => false)) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${what} not listening`)
}

/** Installs both peers and takes the server's files out of the image, into `dir`. */
export async function preparePeers(dir, image) {
  await run('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', '--no-save', SUPERGATEWAY, MCP_PROXY], { maxBuffer: 16 << 20 })
  const { stdout } = await run('docker', ['create', image])
  const id = stdout.trim()
  try {
    await run('docker', ['cp', `${id}:/app`, join(dir, 'app')])
  } finally {
    await run('docker', ['rm', id])
  }
}

const serverArgs = (dir) => [join(dir, 'app', 'servers', 'tools.mjs'), 'v1']

/** A peer bridge started as its CLI, the server its per-session or shared child. */
async function peer(key, label, argv, url) {
  const child = spawn(process.execPath, argv, { env: SERVER_ENV, stdio: ['ignore', 'ignore', 'ignore'] })
  await untilListening(url, child, label)
  return {
    key,
    label,
    bridgePid: child.pid,
    serverPids: () => descendants(child.pid),
    session: () => httpSession(url),
    endSession: endHttpSession,
    stop: async () => {
      child.kill('SIGTERM')
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)))
    }
  }
}

export function supergateway(dir, port) {
  const command = [process.execPath, ...serverArgs(dir)].join(' ')
  const argv = [join(dir, 'node_modules', 'supergateway', 'dist', 'index.js'), '--stdio', command, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none']
  return peer('sg', 'supergateway', argv, `http://127.0.0.1:${port}/mcp`)
}

export function mcpProxy(dir, port) {
  const argv = [join(dir, 'node_modules', 'mcp-proxy', 'dist', 'bin', 'mcp-proxy.mjs'), '--host', '127.0.0.1', '--port', String(port), '--server', 'stream', '--', process.execPath, ...serverArgs(dir)]
  return peer('proxy', 'mcp-proxy', argv, `http://127.0.0.1:${port}/mcp`)
}

/** DTMA: the agent's /tools/{name}/mcp for an instance already deployed (stdio, in its container). */
export function dtma({ agentPid, baseUrl, name, token, containerPid }) {
  return {
    key: 'dtma',
    label: 'DTMA',
    bridgePid: agentPid,
    serverPids: () => tree(containerPid),
    session: () => httpSession(`${baseUrl}/tools/${encodeURIComponent(name)}/mcp`, { authorization: `Bearer ${token}` }),
    endSession: endHttpSession,
    stop: async () => undefined
  }
}

/** A floor: one connection to the server, shared by every "session" (N calls in flight on it). */
function floor(key, label, client, serverPid, stop) {
  return { key, label, bridgePid: undefined, serverPids: () => tree(serverPid), session: async () => client, endSession: async () => undefined, stop }
}

export async function localStdio(dir) {
  const transport = new StdioClientTransport({ command: process.execPath, args: serverArgs(dir), env: SERVER_ENV, stderr: 'ignore' })
  const client = new Client({ name: 'bench-local', version: '1' })
  await client.connect(transport)
  return floor('local', 'raw local stdio', client, transport.pid, () => client.close())
}

/** The SDK's Transport over a container's attach: newline-delimited JSON-RPC. */
class AttachTransport {
  constructor(docker, connection) {
    this.docker = docker
    this.connection = connection
  }
  async start() {
    const stdout = new PassThrough()
    this.docker.modem.demuxStream(this.connection, stdout, new PassThrough().resume())
    let buffered = ''
    stdout.on('data', (chunk) => {
      buffered += chunk.toString('utf8')
      for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        if (line.trim() !== '') this.onmessage?.(JSON.parse(line))
      }
    })
  }
  async send(message) {
    this.connection.write(`${JSON.stringify(message)}\n`)
  }
  async close() {
    this.connection.destroy()
  }
}

/** `docker run -d -i` with the agent's sandbox, attached through the Engine API as the agent attaches. */
export async function dockerAttach(docker, image, name, scope) {
  await run('docker', ['run', '-d', '-i', '--name', name, '--label', `dtma.scope=${scope}`, ...SANDBOX, image])
  const container = docker.getContainer(name)
  const connection = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })
  const client = new Client({ name: 'bench-direct', version: '1' })
  await client.connect(new AttachTransport(docker, connection))
  const pid = (await container.inspect()).State.Pid
  return floor('attach', 'raw docker attach', client, pid, () => client.close())
}
