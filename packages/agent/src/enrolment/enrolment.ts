// Single-use enrolment: a new toolbox's user-data carries an enrolment token
// instead of long-lived secrets. At first start the agent trades it at the
// backend's `toolbox-enroll` function for its per-VM credentials, stores them
// (credentials-file.ts) and from then on starts from them, without the token.
// A refused token (unknown 401, used 409, expired 410) is final: the agent
// says so and exits (EnrolmentRefused); no answer or a 5xx is retried with a
// growing pause, since a new droplet may boot before its network is up.
// Credentials are folded into the config: the per-VM token is accepted and
// used for heartbeat and registry, the fleet key only by its SHA-256.
import { setTimeout as sleep } from 'node:timers/promises'
import { ToolboxCredentials } from '@dtma/contract'
import type { Logger } from 'pino'
import { Value } from 'typebox/value'
import type { Config } from '../config.ts'
import { readCredentials, writeCredentials, type StoredCredentials } from './credentials-file.ts'

export const ENROL_FUNCTION = 'toolbox-enroll'
const REQUEST_TIMEOUT_MS = 15_000
const RETRY_MAX_MS = 30_000

export class EnrolmentRefused extends Error {
  override name = 'EnrolmentRefused'
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message)
  }
}

/** The config with this toolbox's credentials: stored ones, or new ones from enrolment. */
export async function enrolledConfig(config: Config, logger: Logger): Promise<Config> {
  const log = logger.child({ module: 'enrolment' })
  let credentials = readCredentials(config.dataDir)
  if (credentials !== undefined) {
    if (config.enrolmentToken !== undefined) log.info('credentials are stored: DTMA_ENROLMENT_TOKEN is not used again (it may be removed from the settings)')
  } else if (config.enrolmentToken !== undefined) {
    credentials = await enrol(config.enrolmentToken, config.apiBaseUrl as string, log)
    writeCredentials(config.dataDir, credentials)
    log.info({ accountToolEnvironmentId: credentials.account_tool_environment_id }, 'enrolled: credentials stored in the data dir')
  } else {
    return config
  }
  return withCredentials(config, credentials)
}

export function withCredentials(config: Config, credentials: StoredCredentials): Config {
  const token = credentials.dtma_bearer_token
  return {
    ...config,
    vmToken: token,
    environmentId: credentials.account_tool_environment_id,
    fleetKeyHashes: credentials.backend_api_key_sha256 === null ? config.fleetKeyHashes : [...config.fleetKeyHashes, credentials.backend_api_key_sha256],
    apiBaseUrl: credentials.functions_url,
    registry: {
      supabaseUrl: credentials.supabase_url,
      ...(credentials.supabase_anon_key !== null && { anonKey: credentials.supabase_anon_key }),
      environmentId: credentials.account_tool_environment_id,
      retryMaxMs: config.registry?.retryMaxMs ?? 10_000
    }
  }
}

async function enrol(token: string, functionsUrl: string, log: Logger): Promise<StoredCredentials> {
  const url = `${functionsUrl.replace(/\/+$/, '')}/${ENROL_FUNCTION}`
  for (let attempt = 1, pause = 500; ; attempt++, pause = Math.min(RETRY_MAX_MS, pause * 2)) {
    let outcome: StoredCredentials | Error
    try {
      outcome = await exchange(url, token)
    } catch (error) {
      outcome = error as Error
    }
    if (!(outcome instanceof Error)) return outcome
    if (outcome instanceof EnrolmentRefused) throw outcome
    log.warn({ attempt, retryInMs: pause, err: { message: outcome.message } }, 'enrolment failed: retrying')
    await sleep(pause)
  }
}

async function exchange(url: string, token: string): Promise<StoredCredentials> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ enrolment_token: token }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  })
  const answer = (await response.json().catch(() => undefined)) as { error?: string; code?: string } | undefined
  if (response.status === 400 || response.status === 401 || response.status === 403 || response.status === 409 || response.status === 410) {
    const reason = typeof answer?.error === 'string' ? answer.error.slice(0, 300) : `HTTP ${response.status}`
    throw new EnrolmentRefused(`enrolment refused (${response.status}${answer?.code ? ` ${answer.code}` : ''}): ${reason}. A toolbox re-enrols only with a new enrolment token issued by the backend`, response.status)
  }
  if (!response.ok) throw new Error(`toolbox-enroll answered ${response.status}`)
  if (!Value.Check(ToolboxCredentials, answer)) throw new Error('toolbox-enroll answered something that is not a toolbox\'s credentials')
  return { ...(answer as ToolboxCredentials), enrolled_at: new Date().toISOString() }
}
