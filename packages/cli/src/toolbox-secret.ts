// The toolbox's own secret, read where the agent on this machine reads it,
// in the agent's order: the enrolled credentials in its data dir
// (toolbox-credentials.json), else DTMA_BEARER_TOKEN, else DTMA_AUTH_TOKEN,
// each from the environment or /etc/dtma.conf (DTMA_CONFIG_FILE). With it,
// the audience of this toolbox's tokens (audienceOf: DTMA_TOKEN_AUDIENCE,
// else dtma:<environment id>, else dtma:local) and the lifetimes it accepts.
// The secret stays in this process: only tokens signed with it leave.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { audienceOf, parseConfFile, TOKEN_MAX_LIFETIME_S } from '@dtma/contract'

export interface ToolboxSecret {
  secret: string
  audience: string
  /** Where the secret was read (a setting's name or a file), for messages. */
  from: string
  maxLifetimeS: { default: number; mcp: number }
}

const CREDENTIALS_FILE = 'toolbox-credentials.json'

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** The secret of the toolbox this CLI runs on, or undefined when it cannot read one (another machine, or no permission). */
export function readToolboxSecret(environment: NodeJS.ProcessEnv): ToolboxSecret | undefined {
  const confText = readText(environment.DTMA_CONFIG_FILE ?? '/etc/dtma.conf')
  const conf = confText === undefined ? {} : parseConfFile(confText)
  const setting = (name: string): string | undefined => (environment[name] || undefined) ?? (conf[name] || undefined)
  const dataDir = setting('DTMA_DATA_DIR') ?? '/var/lib/dtma'
  const credentialsPath = join(dataDir, CREDENTIALS_FILE)
  let stored: { dtma_bearer_token?: unknown; account_tool_environment_id?: unknown } = {}
  try {
    stored = JSON.parse(readText(credentialsPath) ?? '{}') as typeof stored
  } catch {
    stored = {}
  }
  const enrolled = typeof stored.dtma_bearer_token === 'string' ? stored.dtma_bearer_token : undefined
  const secret = enrolled ?? setting('DTMA_BEARER_TOKEN') ?? setting('DTMA_AUTH_TOKEN')
  if (secret === undefined) return undefined
  const from = enrolled !== undefined ? credentialsPath : setting('DTMA_BEARER_TOKEN') !== undefined ? 'DTMA_BEARER_TOKEN' : 'DTMA_AUTH_TOKEN'
  const environmentId = typeof stored.account_tool_environment_id === 'string' ? stored.account_tool_environment_id : setting('ACCOUNT_TOOL_ENVIRONMENT_ID')
  const seconds = (name: string, fallback: number): number => {
    const value = Number(setting(name))
    return Number.isInteger(value) && value > 0 ? value : fallback
  }
  return {
    secret,
    audience: audienceOf({ audience: setting('DTMA_TOKEN_AUDIENCE'), environmentId }),
    from,
    maxLifetimeS: { default: seconds('DTMA_TOKEN_MAX_LIFETIME_S', TOKEN_MAX_LIFETIME_S.default), mcp: seconds('DTMA_MCP_TOKEN_MAX_LIFETIME_S', TOKEN_MAX_LIFETIME_S.mcp) }
  }
}
