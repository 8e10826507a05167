// Turns argv and the environment into one checked Invocation (node:util
// parseArgs only). Every mistake is a UsageError here, before any request,
// so a typo never reaches the agent.
import { parseArgs } from 'node:util'
import { UsageError } from './errors.ts'

export const USAGE = `Usage: dtma <command> [options]

Commands:
  ls                                  list managed instances
  status [name]                       one instance in detail, or the agent's status
  deploy <image> --name NAME [--env K=V]... [--port CONTAINER[:HOST]]... [--id ID] [--pull]
                                      deploy and wait until running (shows image pull progress)
  start|stop|restart|rm <name>        lifecycle of one instance
  logs <name> [-f] [--tail N] [--since UNIX_SECONDS]
                                      the container's output; -f follows it until Ctrl-C
  mcp <name> tools                    the tools of the instance's MCP server (through the agent)
  mcp <name> call <tool> [--arg K=V]...
                                      call one of them; V is JSON when it parses (42, true, {"a":1}), else text
  approve <name> [--tool TOOL]...     approve the tools the drift lock withholds (changed or new since approval):
                                      those named, or all of them; GET /tools/{name}/mcp/drift shows what changed
  legacy                              containers an earlier agent left that the agent may take over, and why
  adopt <container> [--id ID] [--name NAME]
                                      take one over: made again under DTMA's labels with its image, env and ports
  token --scope SCOPE... [--instance ID]... [--tool ID=NAME]... [--ttl SECONDS]
                                      print a token of this toolbox, signed with its secret (run it on the toolbox);
                                      scopes: tools:read tools:write logs:read agent:admin mcp

Options:
  --url URL        agent address (env DTMA_URL; default http://127.0.0.1:30000)
  --token TOKEN    bearer token (env DTMA_TOKEN; prefer the env: flags show in ps); without one, on the
                   toolbox, the CLI signs a token for each call with the toolbox's secret
  --json           machine-readable output on stdout
  --timeout SEC    deadline of one request (default 30; deploy 660, a pull may be slow)
  -h, --help       this text
  --version        the CLI's version and commit

--env KEY without "=" takes the value from this shell's environment.
--port is CONTAINER[/tcp|udp][:HOST], e.g. 8080:30001 (container port 8080 on host port 30001);
without HOST the agent picks a free host port of its tool range (the answer says which).
Exit codes: 0 ok, 1 the agent refused (its error on stderr), 2 usage, 3 agent unreachable.`

const options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  name: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  port: { type: 'string', short: 'p', multiple: true },
  id: { type: 'string' },
  pull: { type: 'boolean' },
  follow: { type: 'boolean', short: 'f' },
  tail: { type: 'string' },
  since: { type: 'string' },
  arg: { type: 'string', multiple: true },
  scope: { type: 'string', multiple: true },
  instance: { type: 'string', multiple: true },
  tool: { type: 'string', multiple: true },
  ttl: { type: 'string' }
} as const

type OptionName = keyof typeof options
const GLOBAL_OPTIONS: OptionName[] = ['url', 'token', 'json', 'timeout', 'help', 'version']

/** Per command: how many positionals it takes and which own options. */
const COMMANDS = {
  ls: { positionals: [0, 0], options: [] },
  status: { positionals: [0, 1], options: [] },
  deploy: { positionals: [1, 1], options: ['name', 'env', 'port', 'id', 'pull'] },
  start: { positionals: [1, 1], options: [] },
  stop: { positionals: [1, 1], options: [] },
  restart: { positionals: [1, 1], options: [] },
  rm: { positionals: [1, 1], options: [] },
  logs: { positionals: [1, 1], options: ['follow', 'tail', 'since'] },
  mcp: { positionals: [2, 3], options: ['arg'] },
  approve: { positionals: [1, 1], options: ['tool'] },
  legacy: { positionals: [0, 0], options: [] },
  adopt: { positionals: [1, 1], options: ['id', 'name'] },
  token: { positionals: [0, 0], options: ['scope', 'instance', 'tool', 'ttl'] }
} as const satisfies Record<string, { positionals: readonly [number, number]; options: readonly OptionName[] }>

export type CommandName = keyof typeof COMMANDS

export interface PortBinding {
  containerPort: string
  /** '' asks the agent for a free port of its tool range. */
  hostPort: string
}

export interface Invocation {
  command: CommandName | 'help' | 'version'
  /** The image for deploy, the instance name for the others. */
  target: string | undefined
  url: string
  token: string | undefined
  json: boolean
  timeoutMs: number | undefined
  deploy: { name: string; env: string[]; ports: PortBinding[]; accountToolInstanceId: string | undefined; forcePull: boolean }
  logs: { follow: boolean; tail: number | undefined; since: number | undefined }
  mcp: { action: 'tools' | 'call'; tool: string | undefined; args: Record<string, unknown> }
  adopt: { accountToolInstanceId: string | undefined; instanceName: string | undefined }
  /** dtma approve: the tools named (none: all). */
  approve: { tools: string[] }
  /** dtma token: what the token holds. */
  mint: { scopes: string[]; instances: string[]; tools: Record<string, string[]>; ttlSeconds: number | undefined }
}

function isCommand(word: string | undefined): word is CommandName {
  return word !== undefined && Object.hasOwn(COMMANDS, word)
}

function nonNegativeInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^[0-9]{1,10}$/.test(text)) throw new UsageError(`--${flag} takes a whole number, got '${text}'`)
  return Number(text)
}

function parsePort(text: string): PortBinding {
  const match = /^([0-9]{1,5}(?:\/(?:tcp|udp))?)(?::([0-9]{1,5}))?$/.exec(text)
  if (!match) throw new UsageError(`--port takes CONTAINER[/tcp|udp][:HOST], e.g. 8080:30001 or 8080; got '${text}'`)
  return { containerPort: match[1] as string, hostPort: match[2] ?? '' }
}

/** --arg K=V: V as JSON when it parses (numbers, booleans, objects), else as text. */
function parseToolArgs(entries: string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {}
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    if (eq < 1) throw new UsageError(`--arg takes KEY=VALUE, got '${entry}'`)
    const text = entry.slice(eq + 1)
    let value: unknown = text
    try {
      value = JSON.parse(text)
    } catch {
      // Not JSON: the text itself.
    }
    args[entry.slice(0, eq)] = value
  }
  return args
}

function parseMcp(rest: string[], values: { arg?: string[] }): Invocation['mcp'] {
  const [, action, tool] = rest
  if (action !== 'tools' && action !== 'call') throw new UsageError(`'mcp' takes 'tools' or 'call', got '${action}'`)
  if (action === 'tools' && (tool !== undefined || values.arg !== undefined)) throw new UsageError("'mcp NAME tools' takes nothing more")
  if (action === 'call' && tool === undefined) throw new UsageError("'mcp NAME call' needs the tool's name")
  return { action, tool, args: parseToolArgs(values.arg ?? []) }
}

function parseEnv(text: string, environment: NodeJS.ProcessEnv): string {
  const eq = text.indexOf('=')
  const key = eq < 0 ? text : text.slice(0, eq)
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`--env takes KEY=VALUE or KEY, got a bad key '${key}'`)
  if (eq >= 0) return text
  const value = environment[key]
  if (value === undefined) throw new UsageError(`--env ${key}: ${key} is not set in this environment`)
  return `${key}=${value}`
}

/** --scope takes one scope or several (space- or comma-separated); --tool ID=NAME names a tool of an instance. */
function parseMint(values: { scope?: string[]; instance?: string[]; tool?: string[]; ttl?: string }): Invocation['mint'] {
  const tools: Record<string, string[]> = {}
  for (const entry of values.tool ?? []) {
    const eq = entry.indexOf('=')
    if (eq < 1 || eq === entry.length - 1) throw new UsageError(`--tool takes INSTANCE_ID=TOOL_NAME, got '${entry}'`)
    ;(tools[entry.slice(0, eq)] ??= []).push(entry.slice(eq + 1))
  }
  const ttlSeconds = nonNegativeInteger('ttl', values.ttl)
  if (ttlSeconds === 0) throw new UsageError('--ttl takes at least 1 second')
  return { scopes: (values.scope ?? []).flatMap((text) => text.split(/[\s,]+/)).filter(Boolean), instances: values.instance ?? [], tools, ttlSeconds }
}

export function parseInvocation(argv: string[], environment: NodeJS.ProcessEnv): Invocation {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const { values, positionals } = parsed
  const [word, ...rest] = positionals
  const base = {
    url: values.url ?? environment.DTMA_URL ?? 'http://127.0.0.1:30000',
    token: values.token ?? (environment.DTMA_TOKEN || undefined),
    json: values.json === true,
    timeoutMs: values.timeout === undefined ? undefined : (nonNegativeInteger('timeout', values.timeout) ?? 0) * 1000,
    deploy: { name: '', env: [], ports: [], accountToolInstanceId: undefined, forcePull: false },
    logs: { follow: false, tail: undefined, since: undefined },
    mcp: { action: 'tools' as const, tool: undefined, args: {} },
    adopt: { accountToolInstanceId: undefined, instanceName: undefined },
    approve: { tools: [] },
    mint: { scopes: [], instances: [], tools: {}, ttlSeconds: undefined }
  }
  if (values.version === true) return { ...base, command: 'version', target: undefined }
  if (values.help === true || word === undefined || word === 'help') return { ...base, command: 'help', target: undefined }
  if (!isCommand(word)) throw new UsageError(`unknown command '${word}'`)

  const spec = COMMANDS[word]
  const allowed = new Set<OptionName>([...GLOBAL_OPTIONS, ...spec.options])
  for (const key of Object.keys(values) as OptionName[]) {
    if (!allowed.has(key)) throw new UsageError(`'${word}' does not take --${key}`)
  }
  const [min, max] = spec.positionals
  if (word === 'mcp' && (rest.length < min || rest.length > max)) throw new UsageError("'mcp' takes an instance name, then 'tools', or 'call' and a tool")
  if (rest.length < min || rest.length > max) {
    const what = word === 'deploy' ? 'image' : word === 'adopt' ? 'container name' : 'instance name'
    throw new UsageError(min === 0 && max === 0 ? `'${word}' takes no arguments` : `'${word}' takes ${min === max ? '' : 'at most '}one ${what}`)
  }
  try {
    new URL(base.url)
  } catch {
    throw new UsageError(`--url / DTMA_URL is not a URL: '${base.url}'`)
  }

  const invocation: Invocation = { ...base, command: word, target: rest[0] }
  if (word === 'deploy') {
    if (values.name === undefined || values.name === '') throw new UsageError("'deploy' needs --name NAME")
    invocation.deploy = {
      name: values.name,
      env: (values.env ?? []).map((entry) => parseEnv(entry, environment)),
      ports: (values.port ?? []).map(parsePort),
      accountToolInstanceId: values.id,
      forcePull: values.pull === true
    }
  }
  if (word === 'mcp') invocation.mcp = parseMcp(rest, values)
  if (word === 'adopt') {
    if (values.id === '' || values.name === '') throw new UsageError("'adopt' takes a non-empty --id and --name")
    invocation.adopt = { accountToolInstanceId: values.id, instanceName: values.name }
  }
  if (word === 'token') invocation.mint = parseMint(values)
  if (word === 'approve') {
    const tools = values.tool ?? []
    if (tools.some((tool) => tool === '')) throw new UsageError("'approve' takes a tool name after --tool")
    invocation.approve = { tools }
  }
  if (word === 'logs') {
    invocation.logs = { follow: values.follow === true, tail: nonNegativeInteger('tail', values.tail), since: nonNegativeInteger('since', values.since) }
  }
  return invocation
}
