// A scripted DTMA agent that remembers what it was asked to run, for the
// replays of Agentopia's callers: deploy (its own host ports: the agent's
// 30000 and "any port" are replaced by one of 30001.., said in a warning),
// start, stop, restart, remove, logs, GET /tools and GET /status, each
// answered as the contract declares. `lose` forgets an instance the way a
// VM rebuilt behind the agent's back would. The end-to-end test runs the
// real agent instead.
import { instanceNotFoundMessage, type DeployToolBody, type InstanceStatus, type PortMapping, type ToolInstance } from '../../../packages/contract/src/index.ts'
import { agentReplies, fakeAgent, portMapping, toolInstance, type AgentCall, type AgentReply } from './fake-agent.ts'

export const AGENT_PORT = 30000
const FIRST_TOOL_PORT = 30001

interface Running {
  body: DeployToolBody
  state: InstanceStatus
  ports: PortMapping[]
  containerId: string
}

export function fakeToolbox() {
  const instances = new Map<string, Running>()
  let containers = 0

  const view = (name: string, instance: Running): ToolInstance =>
    toolInstance({
      account_tool_instance_id: instance.body.accountToolInstanceId,
      instance_name_on_toolbox: name,
      status: instance.state,
      container_id: instance.containerId,
      container_name: `dtma-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`,
      image: instance.body.dockerImageUrl,
      ports: instance.ports
    })

  const deploy = (body: DeployToolBody): AgentReply => {
    const held = new Set([...instances.entries()].filter(([name]) => name !== body.instanceNameOnToolbox).flatMap(([, other]) => other.ports.map((port) => port.host_port)))
    const warnings: string[] = []
    const asked = (body.baseConfigOverrideJson?.portMappings ?? []).map((mapping) => [Number(mapping.containerPort), Number(mapping.hostPort ?? 0)] as const)
    const ports = asked.map(([containerPort, hostPort]) => {
      if (hostPort !== 0 && hostPort !== AGENT_PORT && !held.has(hostPort)) {
        held.add(hostPort)
        return portMapping(containerPort, hostPort)
      }
      let free = FIRST_TOOL_PORT
      while (held.has(free)) free++
      held.add(free)
      if (hostPort !== 0) warnings.push(`Host port ${hostPort}/tcp is ${hostPort === AGENT_PORT ? "DTMA's own port" : 'taken'}: ${free} is used instead`)
      return portMapping(containerPort, free)
    })
    const containerId = (++containers).toString(16).padStart(12, '0').padEnd(64, 'c')
    instances.set(body.instanceNameOnToolbox, { body, state: 'running', ports, containerId })
    const reply = agentReplies.deployed(body, { ports, ...(warnings.length > 0 && { warnings }) })
    return { status: reply.status, body: { ...reply.body, data: { ...reply.body.data, container_id: containerId } } }
  }

  const script = (call: AgentCall): AgentReply => {
    if (call.method === 'GET' && call.path === '/status') return agentReplies.status([...instances].map(([name, instance]) => view(name, instance)))
    if (call.method === 'GET' && call.path === '/tools') return agentReplies.list([...instances].map(([name, instance]) => view(name, instance)))
    if (call.method === 'POST' && call.path === '/tools') return deploy(call.body as DeployToolBody)
    const match = /^\/tools\/([^/]+)(?:\/(start|stop|restart|logs))?$/.exec(call.path)
    const instance = match ? instances.get(match[1] as string) : undefined
    if (!match || !instance) return agentReplies.error(404, 'DTMA_NOT_FOUND', instanceNotFoundMessage(String(match?.[1])))
    const [, name, verb] = match as unknown as [string, string, string | undefined]
    if (call.method === 'DELETE' && verb === undefined) {
      instances.delete(name)
      return { status: 200, body: { success: true, message: `Tool instance '${name}' removed.` } }
    }
    if (call.method === 'GET' && verb === 'logs') return { status: 200, text: `${name} listening on 8080\n${name} ready\n`, contentType: 'text/plain; charset=utf-8' }
    if (call.method === 'POST' && verb !== undefined && verb !== 'logs') {
      instance.state = verb === 'stop' ? 'stopped' : 'running'
      return agentReplies.state(instance.state)
    }
    return agentReplies.error(404, 'DTMA_ROUTE_NOT_FOUND', 'Not Found')
  }

  return { ...fakeAgent(script), instances, lose: (name: string) => instances.delete(name) }
}
