// The sandbox of every tool container: DTMA's security boundary, in one
// place. A tool runs unprivileged on its own bridge (no traffic between
// tools), with every capability dropped but the few the setting gives back,
// no new privileges, no host paths, devices or shared IPC, bounded memory,
// CPU, processes and logs, and ports bound only to the configured address.
// Nothing in a deploy request can change any of this: a request's limits are
// lowered to the sandbox's here too, whoever calls.
import type { ContainerSpec, PortBinding, ResourceLimits, ToolSandbox } from './types.ts'

/** Scratch space of a read-only tool: in memory, nothing executable. */
const READONLY_TMPFS = { '/tmp': 'rw,noexec,nosuid,nodev,size=64m' }
/** A tool that logs without end must not fill the VM's disk. */
const TOOL_LOG_CONFIG = { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } }

/** Options of the tools' bridge network when DTMA makes it. */
export function toolNetworkOptions(name: string, labels: Record<string, string>) {
  return {
    Name: name,
    Driver: 'bridge',
    CheckDuplicate: true,
    Labels: labels,
    // One user's tool must not reach another's: no traffic between tools.
    Options: { 'com.docker.network.bridge.enable_icc': 'false' }
  }
}

/** A request's limits, never above the sandbox's. */
export function sandboxLimits(sandbox: ToolSandbox, asked: ResourceLimits | undefined): ResourceLimits {
  return {
    memoryBytes: Math.min(asked?.memoryBytes ?? sandbox.memoryBytes, sandbox.memoryBytes),
    nanoCpus: Math.min(asked?.nanoCpus ?? sandbox.nanoCpus, sandbox.nanoCpus),
    pidsLimit: Math.min(asked?.pidsLimit ?? sandbox.pidsLimit, sandbox.pidsLimit)
  }
}

/** Docker's ExposedPorts and PortBindings for the ports of a spec. */
function publishedPorts(ports: readonly PortBinding[]) {
  const exposed: Record<string, object> = {}
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {}
  for (const port of ports) {
    const key = `${port.container_port}/${port.protocol}`
    exposed[key] = {}
    ;(bindings[key] ??= []).push({ HostIp: port.host_ip, HostPort: String(port.host_port) })
  }
  return { exposed, bindings }
}

/** The create options of a tool container: the spec's image, env, labels and ports, inside the sandbox. */
export function sandboxedContainer(spec: ContainerSpec, sandbox: ToolSandbox, networkId: string, ownership: Record<string, string>) {
  const limits = sandboxLimits(sandbox, spec.limits)
  const { exposed, bindings } = publishedPorts(spec.ports)
  return {
    name: spec.containerName,
    Image: spec.image,
    Env: spec.env,
    Labels: { ...spec.labels, ...ownership },
    ExposedPorts: exposed,
    ...(spec.macAddress !== undefined && spec.networkless !== true && { MacAddress: spec.macAddress }),
    // A stdio MCP server speaks on stdin and stdout: stdin stays open across
    // attaches (the agent's restarts), and no TTY, so Docker keeps stdout and stderr apart.
    ...(spec.interactive === true && { OpenStdin: true, StdinOnce: false, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: false }),
    HostConfig: {
      PortBindings: bindings,
      RestartPolicy: { Name: 'unless-stopped' },
      NetworkMode: spec.networkless === true ? 'none' : networkId,
      Privileged: false,
      SecurityOpt: ['no-new-privileges:true'],
      CapDrop: ['ALL'],
      CapAdd: sandbox.capAdd,
      ReadonlyRootfs: sandbox.readonlyRootfs,
      ...(sandbox.readonlyRootfs && { Tmpfs: READONLY_TMPFS }),
      // No host paths, no devices, no shared IPC: nothing of the VM inside.
      Binds: [],
      Mounts: [],
      Devices: [],
      IpcMode: 'private',
      Memory: limits.memoryBytes,
      // Swap would let a tool use twice its memory limit.
      MemorySwap: limits.memoryBytes,
      PidsLimit: limits.pidsLimit,
      NanoCpus: limits.nanoCpus,
      LogConfig: TOOL_LOG_CONFIG
    }
  }
}
