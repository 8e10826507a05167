// A real DTMA agent for end-to-end tests: `node packages/agent/dist/server.js`
// on a free loopback port with a temporary data dir, driving the machine's
// Docker engine. Its output is kept and shown only when a test fails. It
// answers HTTPS with the certificate it made in its data dir, and plain HTTP
// on the same port.
import { removeContainersOfScope } from './docker.ts'

const REPO_ROOT = new URL('../../../', import.meta.url).pathname

export interface AgentProcess {
  port: number
  /** The fleet key it takes (BACKEND_TO_DTMA_API_KEY). */
  token: string
  /** The certificate it made at start and serves HTTPS with (PEM), and its SHA-256 fingerprint. */
  certificatePem: string
  fingerprint: string
  output(): string
  stop(): Promise<void>
}

function freePort(): number {
  const listener = Deno.listen({ hostname: '127.0.0.1', port: 0 })
  const { port } = listener.addr as Deno.NetAddr
  listener.close()
  return port
}

/** `settings` are added to (or replace) the defaults, e.g. the heartbeat's. */
export async function startAgent(settings: Record<string, string> = {}): Promise<AgentProcess> {
  const port = freePort()
  const token = `e2e-${crypto.randomUUID()}`
  // A scope of its own: stop() removes the containers it made, whatever the test left.
  const scope = settings.DTMA_SCOPE ?? `e2e-${crypto.randomUUID().slice(0, 8)}`
  const dataDir = await Deno.makeTempDir({ prefix: 'dtma-e2e-' })
  const child = new Deno.Command('node', {
    args: [`${REPO_ROOT}packages/agent/dist/server.js`],
    cwd: REPO_ROOT,
    env: {
      BACKEND_TO_DTMA_API_KEY: token,
      DTMA_DATA_DIR: dataDir,
      DTMA_CONFIG_FILE: '/dev/null',
      PORT: String(port),
      HOST: '127.0.0.1',
      DTMA_TOOL_HOST_IP: '127.0.0.1',
      OFFLINE_MODE: 'true',
      LOG_LEVEL: 'warn',
      DTMA_SCOPE: scope,
      ...settings
    },
    stdout: 'piped',
    stderr: 'piped'
  }).spawn()
  let output = ''
  const decoder = new TextDecoder()
  const drain = (stream: ReadableStream<Uint8Array>) =>
    stream.pipeTo(new WritableStream({ write: (chunk) => void (output += decoder.decode(chunk, { stream: true })) }))
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)])

  const stop = async () => {
    try {
      child.kill('SIGTERM')
    } catch {
      // already exited
    }
    await child.status
    await drained
    await Deno.remove(dataDir, { recursive: true })
    await removeContainersOfScope(scope)
  }
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    try {
      // Ready, not only live: before its first reconcile the agent answers Docker routes 503.
      const response = await fetch(`http://127.0.0.1:${port}/health/ready`)
      await response.body?.cancel()
      if (response.ok) {
        const certificatePem = await Deno.readTextFile(`${dataDir}/tls-cert.pem`)
        return { port, token, certificatePem, fingerprint: await fingerprintOf(certificatePem), output: () => output, stop }
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await stop()
  throw new Error(`DTMA did not become ready on port ${port}:\n${output}`)
}

/** SHA-256 of a PEM certificate's DER, as openssl prints it (AB:CD:...). */
export async function fingerprintOf(pem: string): Promise<string> {
  const base64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '')
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', der))
  return [...digest].map((byte) => byte.toString(16).padStart(2, '0').toUpperCase()).join(':')
}
