// Test agents share one engine and one tools' network: each installs the
// network policy's chain of its own scope, and the chains outlive the agent
// on purpose (a stopped agent leaves the toolbox closed). A test's teardown
// removes its scope's chain and hook so iptables does not fill with dead
// chains over the suite; the shared chains of the bridge stay.
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import Docker from 'dockerode'
import { agentChainName, bridgeChains } from '../../src/netpolicy/rules.ts'

const run = promisify(execFile)
const docker = new Docker({ socketPath: '/var/run/docker.sock' })

async function bridgeOf(network: string): Promise<string | undefined> {
  const info = await docker.getNetwork(network).inspect().catch(() => undefined) as { Id: string; Options?: Record<string, string> } | undefined
  return info === undefined ? undefined : (info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`)
}

/** The chain of one agent scope (and its hooks), in IPv4 and IPv6; nothing when there is none. */
export async function removePolicyChains(scope: string, network = 'dtma-tools'): Promise<void> {
  const chain = agentChainName(scope, network)
  for (const program of ['iptables', 'ip6tables']) {
    const listing = await run(program, ['-w', '-S', 'DOCKER-USER']).then(({ stdout }) => stdout.split('\n'), () => [] as string[])
    for (const rule of listing.filter((line) => line.startsWith('-A DOCKER-USER ') && line.endsWith(` -j ${chain}`))) {
      await run(program, ['-w', ...rule.replace(/^-A /, '-D ').split(' ')]).catch(() => undefined)
    }
    await run(program, ['-w', '-F', chain]).catch(() => undefined)
    await run(program, ['-w', '-X', chain]).catch(() => undefined)
  }
}

/** The name of one agent scope's chain on a network (what `iptables -S <name>` lists). */
export function policyChainOf(scope: string, network = 'dtma-tools'): string {
  return agentChainName(scope, network)
}

/** The host's interface of a network (what the policy's hooks name). */
export { bridgeOf }

/** The shared chains of a bridge a test made and removes (its hooks and chains), in IPv4 and IPv6. */
export async function removeNetworkChains(bridge: string): Promise<void> {
  const { network, host } = bridgeChains(bridge)
  for (const program of ['iptables', 'ip6tables']) {
    for (const [hookChain, chain] of [['DOCKER-USER', network], ['INPUT', host]] as const) {
      const listing = await run(program, ['-w', '-S', hookChain]).then(({ stdout }) => stdout.split('\n'), () => [] as string[])
      for (const rule of listing.filter((line) => line.startsWith(`-A ${hookChain} `) && line.endsWith(` -j ${chain}`))) {
        await run(program, ['-w', ...rule.replace(/^-A /, '-D ').split(' ')]).catch(() => undefined)
      }
      await run(program, ['-w', '-F', chain]).catch(() => undefined)
      await run(program, ['-w', '-X', chain]).catch(() => undefined)
    }
  }
}

const atExit = new Set<string>()

/** For agents a test runs as processes (test/helpers/agent-process.ts): their scope's chain is removed
 *  when the test's process exits, after every restart the test made of them (the rules outlive a killed
 *  agent on purpose, so not at each kill). */
export function removePolicyChainsAtExit(scope: string, network = 'dtma-tools'): void {
  if (atExit.size === 0) {
    process.once('exit', () => {
      for (const entry of atExit) {
        const [entryScope = '', entryNetwork = ''] = entry.split('\0')
        const chain = agentChainName(entryScope, entryNetwork)
        for (const program of ['iptables', 'ip6tables']) {
          const listing = (() => {
            try {
              return execFileSync(program, ['-w', '-S', 'DOCKER-USER'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')
            } catch {
              return []
            }
          })()
          const commands = [...listing.filter((line) => line.startsWith('-A DOCKER-USER ') && line.endsWith(` -j ${chain}`)).map((rule) => rule.replace(/^-A /, '-D ').split(' ')), ['-F', chain], ['-X', chain]]
          for (const args of commands) {
            try {
              execFileSync(program, ['-w', ...args], { stdio: 'ignore' })
            } catch {
              // Already gone, or no iptables here.
            }
          }
        }
      }
    })
  }
  atExit.add(`${scope}\0${network}`)
}
