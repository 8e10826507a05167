// The probe of the network-policy tests: busybox tool containers deployed
// through a real agent process (listening on every interface, as in
// production), from which `docker exec` tries a connection. An exec runs in
// the container's network namespace, under the same rules as the tool's own
// process. A try is "reached" when an HTTP server answered (with the target's
// marker when it has one), "refused" when no connection was made (the reason
// is kept: refused, unreachable, timed out).
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { spawnAgent, type AgentProcess } from './agent-process.ts'
import { docker, freePort, scopeFor, tempDir, TEST_IMAGE, TOKEN } from './agent.ts'
import { waitFor } from './wait.ts'

const run = promisify(execFile)

type TapLike = Pick<Test, 'teardown' | 'comment' | 'equal'>

export type Seen = 'reached' | 'refused'

export interface Target {
  label: string
  host: string
  port: number
  /** Text the target's server answers; absent: any HTTP answer is a reach. */
  marker?: string
}

/**
 * One connection try from inside a container: an HTTP/1.0 request through
 * busybox nc with a 3 s timeout (busybox-static's wget crashes in the static
 * glibc's resolver, even on an address literal; its nc does not).
 */
export async function probe(containerId: string, target: Target): Promise<{ seen: Seen; detail: string }> {
  const script = 'printf "GET / HTTP/1.0\\r\\nHost: probe\\r\\n\\r\\n" | nc -w 3 "$0" "$1"'
  const result = await run('docker', ['exec', containerId, 'sh', '-c', script, target.host, String(target.port)], { timeout: 20_000 }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? String(error), code: error.code ?? -1 })
  )
  if (result.stdout.startsWith('HTTP/')) {
    const status = result.stdout.split('\r\n')[0]!.slice(9).trim()
    if (target.marker === undefined || result.stdout.includes(target.marker)) return { seen: 'reached', detail: `HTTP ${status}` }
    return { seen: 'reached', detail: `HTTP ${status} without its marker` }
  }
  if (result.stdout.length > 0) return { seen: 'reached', detail: `answered: ${JSON.stringify(result.stdout.slice(0, 40))}` }
  // A connection that opened but said nothing is still a reach (nc exits 0).
  if (result.code === 0) return { seen: 'reached', detail: 'connected, no answer in 3 s' }
  // Only a network's answer is a refusal: anything else is the probe's own failure, never a pass.
  const reason = /can't connect to remote host[^:]*: (.*)$|^nc: (timed out)$/m.exec(result.stderr)
  const text = reason?.[1] ?? reason?.[2]
  if (text === undefined || !REFUSALS.test(text)) throw new Error(`the probe of ${target.host}:${target.port} failed: ${result.stderr.trim()}`)
  return { seen: 'refused', detail: text }
}

/** What the kernel answers a connection the network refuses (REJECT, DROP, no route, no address of the family). */
const REFUSALS = /^(Connection refused|timed out|No route to host|Network is unreachable|Host is unreachable|Cannot assign requested address|Permission denied|Operation not permitted)$/

export type Egress = 'internet' | 'none' | { allow: string[] }

export function policyName(egress: Egress | 'off'): string {
  return typeof egress === 'string' ? egress : `allow ${egress.allow.join(',')}`
}

/** The rows of the closing table: target | policy | expected | seen. */
export class Matrix {
  readonly rows: string[] = []
  constructor(private readonly t: TapLike) {}

  /** Probes every case at once, asserts each and prints its row. */
  async check(cases: Array<{ probe: string; policy: string; target: Target; expected: Seen; note?: string }>): Promise<void> {
    const results = await Promise.all(cases.map((c) => probe(c.probe, c.target)))
    cases.forEach((c, index) => {
      const result = results[index]!
      const row = `${c.target.label} ${c.target.host.includes(':') ? `[${c.target.host}]` : c.target.host}:${c.target.port} | ${c.policy} | ${c.expected}${c.note ? ` (${c.note})` : ''} | ${result.seen} (${result.detail})`
      this.rows.push(row)
      this.t.comment(row)
      this.t.equal(result.seen, c.expected, row)
    })
  }

  print(title: string): void {
    this.t.comment(`${title}\ntarget | policy | expected | seen\n${this.rows.join('\n')}`)
  }
}

export interface PolicyAgent {
  agent: AgentProcess
  port: number
  dataDir: string
  network: string
  /** The network's gateway: an address of the host, as a tool sees it. */
  gateway: string
  gateway6?: string
  /** The network's bridge interface on the host. */
  bridge: string
  env: Record<string, string>
  /** Deploys a busybox tool (httpd on 8080) with this egress; returns its reply. */
  deploy(label: string, egress?: Egress, hostPort?: number): Promise<{ status: number; body: any; name: string }>
  /** Deploys and waits for its container to run; returns the container id. */
  tool(label: string, egress?: Egress, hostPort?: number): Promise<string>
  /** The instance name of a tool this helper deployed, by container id. */
  nameOf(containerId: string): string
  /** Stops this agent process (SIGKILL) and starts it again on the same data dir and port. */
  restart(): Promise<void>
}

/**
 * A real agent process, listening on 0.0.0.0 as in production, with tool
 * ports published on every address (the attacker's best case), on a tools
 * network of its own (removed at teardown with every container of its scope).
 */
export async function startPolicyAgent(t: TapLike, options: { networkArgs?: string[]; env?: Record<string, string> } = {}): Promise<PolicyAgent> {
  const dataDir = tempDir(t, 'dtma-netpolicy-')
  const port = await freePort()
  const network = `dtma-np-${randomBytes(4).toString('hex')}`
  const env = {
    HOST: '0.0.0.0',
    DTMA_TOOL_HOST_IP: '0.0.0.0',
    DTMA_TOOL_NETWORK: network,
    ...options.env
  }
  const addresses = await toolNetwork(network, options.networkArgs)
  const state: { agent?: AgentProcess } = {}
  const names = new Map<string, string>()
  t.teardown(async () => {
    await state.agent?.kill()
    const containers = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scopeFor(dataDir)}`] } })
    await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
    // The agent may make networks of its own beside it (named after it): they go too.
    const made = (await docker.listNetworks({ filters: { name: [network] } })).map((n) => n.Name).filter((name) => name === network || name.startsWith(`${network}-`))
    for (const name of made) await run('docker', ['network', 'rm', name]).catch((error: unknown) => t.comment(`network ${name} left: ${String(error)}`))
  })
  state.agent = spawnAgent(dataDir, port, env)
  await state.agent.ready(60_000)
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
  const self: PolicyAgent = {
    get agent() {
      return state.agent!
    },
    port,
    dataDir,
    network,
    ...addresses,
    env,
    async deploy(label, egress, hostPort) {
      const name = `${label} ${randomBytes(3).toString('hex')}`
      const override: Record<string, unknown> = {
        HostConfig: { PortBindings: hostPort === undefined ? {} : { '8080/tcp': [{ HostPort: String(hostPort) }] } },
        ...(egress !== undefined && { egress })
      }
      const response = await fetch(`http://127.0.0.1:${port}/tools`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: `ati-${randomBytes(6).toString('hex')}`, baseConfigOverrideJson: override })
      })
      return { status: response.status, body: await response.json().catch(() => undefined), name }
    },
    async tool(label, egress, hostPort) {
      const reply = await self.deploy(label, egress, hostPort)
      if (reply.status !== 201) throw new Error(`deploy ${label} (${policyName(egress ?? 'internet')}): ${reply.status} ${JSON.stringify(reply.body)}`)
      const id: string = reply.body.data.container_id
      names.set(id, reply.name)
      const running = await waitFor(async () => ((await docker.getContainer(id).inspect()).State.Running ? true : undefined), 30_000)
      if (running !== true) throw new Error(`${label} is not running`)
      return id
    },
    nameOf(containerId) {
      return names.get(containerId) ?? ''
    },
    async restart() {
      await state.agent?.kill()
      state.agent = spawnAgent(dataDir, port, env)
      await state.agent.ready(60_000)
    }
  }
  return self
}

/** A tools network as the agent makes it (no traffic between tools), with these `docker network create` options. */
async function toolNetwork(name: string, extra: string[] = []): Promise<{ gateway: string; gateway6?: string; bridge: string }> {
  await run('docker', ['network', 'create', '--driver', 'bridge', '-o', 'com.docker.network.bridge.enable_icc=false', ...extra, name])
  const inspected = await docker.getNetwork(name).inspect()
  const configs = inspected.IPAM?.Config ?? []
  const gateway = configs.find((c) => c.Subnet !== undefined && !c.Subnet.includes(':'))?.Gateway ?? ''
  const bridge = inspected.Options?.['com.docker.network.bridge.name'] ?? `br-${String(inspected.Id).slice(0, 12)}`
  if (!configs.some((c) => c.Subnet?.includes(':'))) return { gateway, bridge }
  // Docker 20.10 does not report an IPv6 gateway it chose: the bridge's global address is it.
  const { stdout } = await run('ip', ['-6', '-o', 'addr', 'show', 'dev', bridge, 'scope', 'global'])
  const gateway6 = /inet6 ([0-9a-f:]+)\//.exec(stdout)?.[1]
  if (gateway6 === undefined) throw new Error(`no IPv6 gateway on ${bridge}`)
  return { gateway, gateway6, bridge }
}

/** The container's address on the named network. */
export async function containerAddress(containerId: string, network: string, family: 4 | 6 = 4): Promise<string> {
  const settings = (await docker.getContainer(containerId).inspect()).NetworkSettings.Networks[network]
  return (family === 4 ? settings?.IPAddress : settings?.GlobalIPv6Address) ?? ''
}
