// Where the policy's chains are hooked, and how a listing that lost them (a
// flush, a firewall tool, someone's hand) is put right: pure, from the
// `iptables -S` lines of DOCKER-USER, FORWARD and INPUT to the lines of one
// iptables-restore --noflush transaction.
//   DOCKER-USER: every agent's chain for the bridge before the shared
//   network chain (an agent's `{ allow }` may open a private range the
//   network chain refuses); INPUT: the host chain first of all.
import { FORWARD_HOOK_CHAIN, hookRules, INPUT_HOOK_CHAIN, type BridgeChains } from './rules.ts'

export interface HookListing {
  /** undefined: the chain does not exist (ip6tables without Docker's IPv6 support). */
  dockerUser: string[] | undefined
  forward: string[]
  input: string[]
}

export interface HookPlan {
  /** Lines of an iptables-restore --noflush transaction (empty: all in place). */
  lines: string[]
  /** The hooks that were not there at all. */
  missing: string[]
}

function rulesOf(lines: readonly string[], chain: string): string[] {
  return lines.filter((line) => line.startsWith(`-A ${chain} `))
}

function deletion(rule: string): string {
  return rule.replace(/^-A /, '-D ')
}

/** `-A X ...` inserted at a 1-based position. */
function insertion(rule: string, position: number): string {
  return rule.replace(/^-A (\S+) /, `-I $1 ${position} `)
}

/** One bridge's hooks (the agent's chain, the bridge's default, the host chain). */
export function planHooks(listing: HookListing, agentChain: string, bridge: BridgeChains): HookPlan {
  const hooks = hookRules(agentChain, bridge)
  const lines: string[] = []
  const missing: string[] = []
  if (listing.dockerUser === undefined) lines.push(`:${FORWARD_HOOK_CHAIN} - [0:0]`)
  if (!rulesOf(listing.forward, 'FORWARD').includes(`-A FORWARD -j ${FORWARD_HOOK_CHAIN}`)) lines.push(`-I FORWARD 1 -j ${FORWARD_HOOK_CHAIN}`)

  const dockerUser = rulesOf(listing.dockerUser ?? [], FORWARD_HOOK_CHAIN)
  const agentHooksOfBridge = (rules: string[]) => rules.flatMap((rule, index) => (rule.startsWith(`-A ${FORWARD_HOOK_CHAIN} -i ${bridge.bridge} -j DTMA-A-`) ? [index] : []))
  const ours = dockerUser.filter((rule) => rule === hooks.agent).length
  const shared = dockerUser.filter((rule) => rule === hooks.network).length
  if (ours === 0) missing.push(hooks.agent)
  if (shared === 0) missing.push(hooks.network)
  const lastAgentHook = Math.max(-1, ...agentHooksOfBridge(dockerUser))
  if (ours !== 1 || shared !== 1 || dockerUser.indexOf(hooks.network) < lastAgentHook) {
    for (const rule of dockerUser.filter((candidate) => candidate === hooks.agent || candidate === hooks.network)) lines.push(deletion(rule))
    const rest = dockerUser.filter((rule) => rule !== hooks.agent && rule !== hooks.network)
    const after = [hooks.agent, ...rest]
    lines.push(insertion(hooks.agent, 1))
    lines.push(insertion(hooks.network, Math.max(-1, ...agentHooksOfBridge(after)) + 2))
  }

  const inputRules = rulesOf(listing.input, INPUT_HOOK_CHAIN)
  const hostHooks = inputRules.filter((rule) => rule === hooks.host).length
  if (hostHooks === 0) missing.push(hooks.host)
  if (hostHooks !== 1 || inputRules[0] !== hooks.host) {
    for (let count = 0; count < hostHooks; count++) lines.push(deletion(hooks.host))
    lines.push(insertion(hooks.host, 1))
  }
  return { lines, missing }
}

/** A transaction around plan lines (the filter table). */
export function restoreText(lines: readonly string[]): string {
  return ['*filter', ...lines, 'COMMIT', ''].join('\n')
}
