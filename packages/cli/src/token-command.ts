// `dtma token`: a token of this toolbox, signed here with its own secret, for
// an operator or an AI agent (printed on stdout, nothing else). And the token
// the CLI signs for its own call when it can read the secret and was given
// no DTMA_TOKEN: the scopes of that one command, for five minutes.
import { signToolboxToken, SCOPES, type Scope } from '@dtma/contract'
import type { CommandName, Invocation } from './args.ts'
import { UsageError } from './errors.ts'
import { readToolboxSecret, type ToolboxSecret } from './toolbox-secret.ts'

/** What each command calls, as scopes (the route table's). */
const COMMAND_SCOPES: Record<Exclude<CommandName, 'token'>, Scope[]> = {
  ls: ['tools:read'],
  status: ['tools:read'],
  // The deploy, and the events stream that shows its pull.
  deploy: ['tools:write', 'tools:read'],
  start: ['tools:write'],
  stop: ['tools:write'],
  restart: ['tools:write'],
  rm: ['tools:write'],
  logs: ['logs:read'],
  approve: ['tools:write'],
  mcp: ['mcp'],
  legacy: ['tools:read'],
  adopt: ['tools:write']
}
const OWN_CALL_LIFETIME_S = 300

function secretOrRefuse(environment: NodeJS.ProcessEnv): ToolboxSecret {
  const found = readToolboxSecret(environment)
  if (found === undefined) {
    throw new UsageError("'token' needs this toolbox's secret: run it on the toolbox as a user who can read the agent's data dir (toolbox-credentials.json) or /etc/dtma.conf, or set DTMA_BEARER_TOKEN")
  }
  return found
}

/** The token `dtma token` prints. */
export async function mintToken(request: Invocation['mint'], environment: NodeJS.ProcessEnv): Promise<string> {
  const unknown = request.scopes.filter((scope) => !(SCOPES as readonly string[]).includes(scope))
  if (unknown.length > 0) throw new UsageError(`unknown scope '${unknown[0]}': one of ${SCOPES.join(', ')}`)
  if (request.scopes.length === 0) throw new UsageError(`'token' needs --scope (one of ${SCOPES.join(', ')})`)
  const toolbox = secretOrRefuse(environment)
  const scopes = [...new Set(request.scopes)] as Scope[]
  const onlyMcp = scopes.length === 1 && scopes[0] === 'mcp'
  const cap = onlyMcp ? toolbox.maxLifetimeS.mcp : toolbox.maxLifetimeS.default
  const ttl = request.ttlSeconds ?? Math.min(cap, 600)
  if (ttl > cap) throw new UsageError(`--ttl ${ttl}: this toolbox accepts at most ${cap} s for ${onlyMcp ? 'an mcp token' : 'these scopes'}`)
  const tools = Object.keys(request.tools).length > 0 ? request.tools : undefined
  const instances = request.instances.length > 0 ? request.instances : tools === undefined ? undefined : Object.keys(tools)
  return signToolboxToken(toolbox.secret, {
    audience: toolbox.audience,
    scopes,
    lifetimeSeconds: ttl,
    subject: 'dtma-cli',
    ...(instances !== undefined && { instances }),
    ...(tools !== undefined && { tools })
  })
}

/** The token of the CLI's own call: undefined when it cannot read the secret (the call then goes without one and the agent says so). */
export async function ownCallToken(command: CommandName, environment: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (command === 'token') return undefined
  const toolbox = readToolboxSecret(environment)
  if (toolbox === undefined) return undefined
  return signToolboxToken(toolbox.secret, { audience: toolbox.audience, scopes: COMMAND_SCOPES[command], lifetimeSeconds: OWN_CALL_LIFETIME_S, subject: 'dtma-cli' })
}
