// Builds a real DTMA app for a test: real Docker runtime, a temporary data
// dir, a real port on 127.0.0.1, a typed client, and cleanup of every
// container the test deployed.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { Writable } from 'node:stream'
import { createDtmaClient, SCOPES, signToolboxToken, type DtmaClient } from '@dtma/contract'
import Docker from 'dockerode'
import type { FastifyInstance } from 'fastify'
import { composeAgent } from '../../src/compose.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import type { InstanceService } from '../../src/instances/instance-service.ts'
import { LogTail } from '../../src/log-tail.ts'
import { createLogger } from '../../src/logger.ts'
import type { ContainerRuntime } from '../../src/runtime/types.ts'
import type { InstanceStore } from '../../src/store/instance-store.ts'
import { removePolicyChains } from './netpolicy-cleanup.ts'

export const TEST_IMAGE = 'dtma-test/busybox:v1'
export const TEST_IMAGE_V2 = 'dtma-test/busybox:v2'
// Secrets as the config wants them: at least 32 characters.
/** The fleet key (BACKEND_TO_DTMA_API_KEY): tools:read and tools:write while DTMA_ACCEPT_FLEET_KEY is on. */
export const FLEET_KEY = `test-backend-key-${randomBytes(16).toString('hex')}`
/** The per-VM secret (DTMA_BEARER_TOKEN) the agents the helpers start sign-check their tokens with. */
export const VM_TOKEN = `test-vm-token-${randomBytes(16).toString('hex')}`
/** The audience the helpers' agents are told (DTMA_TOKEN_AUDIENCE), whatever their environment id. */
export const TEST_AUDIENCE = 'dtma:test-agents'
/** A token's lifetime that outlives any test file; the helpers' agents accept it (TEST_TOKEN_SETTINGS), the product's defaults would not. */
export const TEST_TOKEN_LIFETIME_S = 6 * 3600
/** An all-scope token of the helpers' agents, signed with VM_TOKEN: what a test calls with unless it tests credentials. */
export const TOKEN = await signToolboxToken(VM_TOKEN, { audience: TEST_AUDIENCE, scopes: SCOPES, lifetimeSeconds: TEST_TOKEN_LIFETIME_S, subject: 'dtma-tests' })
/** The settings that make TOKEN valid on an agent: its audience and lifetime caps that take it. */
export const TEST_TOKEN_SETTINGS: Record<string, string> = {
  DTMA_TOKEN_AUDIENCE: TEST_AUDIENCE,
  DTMA_TOKEN_MAX_LIFETIME_S: String(TEST_TOKEN_LIFETIME_S),
  DTMA_MCP_TOKEN_MAX_LIFETIME_S: String(TEST_TOKEN_LIFETIME_S)
}
/** KEY=value settings of an agent started outside the helpers (a container, a settings file) that takes TOKEN and FLEET_KEY. */
export const TEST_CREDENTIAL_SETTINGS: string[] = [`BACKEND_TO_DTMA_API_KEY=${FLEET_KEY}`, `DTMA_BEARER_TOKEN=${VM_TOKEN}`, ...Object.entries(TEST_TOKEN_SETTINGS).map(([key, value]) => `${key}=${value}`)]

export const docker = new Docker({ socketPath: '/var/run/docker.sock' })

interface TapLike {
  teardown(fn: () => unknown): void
}

/** A name the way Agentopia makes them: spaces, capitals, a timestamp. */
export function uniqueName(label: string): string {
  return `${label} MCP Server-${Date.now()}${randomBytes(3).toString('hex')}`
}

/** The agent scope of a test data dir: stable across restarts of that agent. */
export function scopeFor(dataDir: string): string {
  return `t-${basename(dataDir).toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}`
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

export function tempDir(t: TapLike, prefix = 'dtma-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export interface TestAgent {
  app: FastifyInstance
  instances: InstanceService
  baseUrl: string
  port: number
  client: DtmaClient
  config: Config
  store: InstanceStore
  dataDir: string
  /** Every log line the agent wrote (JSON text). */
  logs: string[]
  /** Deploy body with defaults for the test image. */
  deployBody(name: string, extra?: { hostPort?: number; env?: string[]; image?: string }): {
    dockerImageUrl: string
    instanceNameOnToolbox: string
    accountToolInstanceId: string
    baseConfigOverrideJson: { Env: string[]; HostConfig: { PortBindings: Record<string, Array<{ HostPort: string }>> } }
  }
}

export interface TestAgentOptions {
  env?: Record<string, string>
  runtime?: ContainerRuntime
  dataDir?: string
  /** Wait for the first reconcile (default); off for an unreachable Docker. */
  waitReady?: boolean
  /** What POST /restart calls (the real process exits). */
  restart?: () => void
}

export async function startTestAgent(t: TapLike, options: TestAgentOptions = {}): Promise<TestAgent> {
  const dataDir = options.dataDir ?? tempDir(t)
  const emptyConfFile = join(dataDir, 'dtma.conf')
  writeFileSync(emptyConfFile, '')
  const port = await freePort()
  const config = loadConfig({
    BACKEND_TO_DTMA_API_KEY: FLEET_KEY,
    DTMA_BEARER_TOKEN: VM_TOKEN,
    ...TEST_TOKEN_SETTINGS,
    DTMA_DATA_DIR: dataDir,
    DTMA_CONFIG_FILE: emptyConfFile,
    PORT: String(port),
    HOST: '127.0.0.1',
    DTMA_TOOL_HOST_IP: '127.0.0.1',
    DTMA_STOP_TIMEOUT_S: '2',
    // Test agents share one Docker engine: each manages only its own scope.
    DTMA_SCOPE: scopeFor(dataDir),
    // Tests send wrong tokens on purpose, all from 127.0.0.1; the failed-auth
    // limit has its own test (plugins/auth-rate-limit.test.ts).
    DTMA_AUTH_FAILURE_LIMIT: '100000',
    // Agents side by side on one engine: only the tests of the take-over take labelled containers over.
    DTMA_ADOPT_LABELLED: 'false',
    ...options.env
  })
  const logs: string[] = []
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      done()
    }
  })
  const logTail = new LogTail()
  const logger = createLogger('debug', logStream, logTail)
  const { app, instances, store } = await composeAgent({
    config,
    logger,
    logTail,
    ...(options.runtime !== undefined && { runtime: options.runtime }),
    ...(options.restart !== undefined && { restart: options.restart })
  })
  await app.listen({ port, host: config.host })
  if (options.waitReady !== false) await instances.whenReady()
  const baseUrl = `http://127.0.0.1:${port}`
  const deployed = new Set<string>()
  t.teardown(async () => {
    // Closing the app closes the store too (the composition's last shutdown step).
    await app.close()
    await removeInstances([...deployed])
    await removePolicyChains(config.scope, config.tool.network)
  })
  return {
    app,
    instances,
    baseUrl,
    port,
    client: createDtmaClient({ baseUrl, token: TOKEN, timeoutMs: 60_000 }),
    config,
    store,
    dataDir,
    logs,
    deployBody(name, extra = {}) {
      deployed.add(name)
      const bindings: Record<string, Array<{ HostPort: string }>> = extra.hostPort === undefined ? {} : { '8080/tcp': [{ HostPort: String(extra.hostPort) }] }
      return {
        dockerImageUrl: extra.image ?? TEST_IMAGE,
        instanceNameOnToolbox: name,
        accountToolInstanceId: `ati-${randomBytes(8).toString('hex')}`,
        baseConfigOverrideJson: { Env: extra.env ?? ['MODE=test'], HostConfig: { PortBindings: bindings } }
      }
    }
  }
}

/** Removes the containers of these instance names, whatever state they are in. */
export async function removeInstances(instanceNames: string[]): Promise<void> {
  if (instanceNames.length === 0) return
  const wanted = new Set(instanceNames)
  const containers = await docker.listContainers({ all: true, filters: { label: ['dtma.managed=true'] } })
  await Promise.all(
    containers
      .filter((container) => wanted.has(container.Labels['dtma.instance-name'] ?? ''))
      .map((container) => docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined))
  )
}

/** GET a URL until it answers (a fresh container needs a moment), or undefined. */
/** The body of the first answer within `timeoutMs` (a deadline, not a count of tries: a loaded machine slows each one). */
export async function fetchText(url: string, timeoutMs = 30_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs
  do {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, Math.min(5000, deadline - Date.now()))) })
      return await response.text()
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } while (Date.now() < deadline)
  return undefined
}

export async function dockerState(containerId: string): Promise<string | undefined> {
  try {
    return (await docker.getContainer(containerId).inspect()).State.Status
  } catch {
    return undefined
  }
}

export function authHeaders(token = TOKEN): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}
