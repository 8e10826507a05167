// The smoke test of an upgrade: every tool that ran before it still runs
// (Docker's word, by instance), and the new agent lists each of its own
// instances as running. The agent containers and the upgrade's helper are
// not tools, and another agent's (another DTMA scope) are not this one's.
import type { AgentHost, RunningContainer } from '../../runtime/agent-host.ts'
import type { AgentAnswer } from './probe.ts'

const INSTANCE_LABEL = 'dtma.instance-name'
const AGENTOPIA_INSTANCE_LABEL = 'agentopia.mcp.instance_name'

/** A tool's lasting name: its instance, whatever container runs it now. */
function instanceOf(container: RunningContainer): string {
  return container.labels[INSTANCE_LABEL] ?? container.labels[AGENTOPIA_INSTANCE_LABEL] ?? container.name
}

function isTool(container: RunningContainer, agentName: string, scope: string): boolean {
  if (container.labels['dtma.managed'] === 'true' && container.labels['dtma.scope'] !== scope) return false
  if (container.name === agentName || container.name === `${agentName}-previous`) return false
  // The upgrade's helper and the agents hold the Docker socket; no tool is given it.
  // (Not a label: a tool's image can carry any label, `dtma.upgrade-operation` too.)
  return !container.mounts.some((mount) => /docker\.sock$/.test(mount.destination))
}

/** The tools running now: instance name -> whether DTMA manages it. */
export async function runningTools(host: AgentHost, agentName: string, scope: string): Promise<Map<string, boolean>> {
  const tools = (await host.running()).filter((container) => isTool(container, agentName, scope))
  return new Map(tools.map((container) => [instanceOf(container), container.labels['dtma.managed'] === 'true']))
}

/** What is wrong after the upgrade, or undefined when nothing is. */
export function smokeFailure(before: Map<string, boolean>, after: Map<string, boolean>, agent: AgentAnswer): string | undefined {
  const stopped = [...before.keys()].filter((name) => !after.has(name))
  if (stopped.length > 0) return `tools that ran before do not run now: ${stopped.slice(0, 5).join(', ')}`
  if (agent.instances === undefined) return undefined
  const unlisted = [...before].filter(([name, managed]) => managed && agent.instances?.get(name) !== 'running').map(([name]) => name)
  if (unlisted.length > 0) return `the new agent does not report as running: ${unlisted.slice(0, 5).join(', ')}`
  return undefined
}
