// One function per CLI command, each a thin layer over the typed contract
// client: call the route, turn an error reply into a RefusedError carrying
// the agent's own sentence, print a table or the agent's JSON body.
import { createHash } from 'node:crypto'
import { createDtmaClient, readServerSentEvents, type DtmaClient, type ErrorBody, type InstanceEvent, type PullProgressEvent } from '@dtma/contract'
import type { Invocation } from './args.ts'
import { RefusedError } from './errors.ts'
import { mcpCommand } from './mcp-commands.ts'
import { PullProgress } from './pull-progress.ts'
import { agentDetail, formatPorts, instanceDetail, instanceTable, legacyTable } from './render.ts'

export interface Io {
  stdout(text: string): void
  stderr(text: string): void
  /** Draw the pull bar in place (stderr is a terminal). */
  stderrIsTty: boolean
  /** Aborted on Ctrl-C: ends a followed log stream cleanly. */
  interrupt: AbortSignal
}

const DEFAULT_TIMEOUT_MS = 30_000
/** The agent's pull deadline (DTMA_PULL_TIMEOUT_MS, 10 min) plus the create and start. */
const DEPLOY_TIMEOUT_MS = 660_000

type Reply = { status: number; body: unknown }

/** Success bodies pass through; anything else becomes the agent's sentence. */
function expectOk<R extends Reply>(reply: R): Exclude<R, { body: ErrorBody }> {
  if (reply.status < 400) return reply as Exclude<R, { body: ErrorBody }>
  const body = reply.body as Partial<ErrorBody> | string
  const sentence = typeof body === 'object' && typeof body.error === 'string' ? body.error : `the agent answered HTTP ${reply.status}`
  throw new RefusedError(sentence, reply.status, reply.body)
}

function printJson(io: Io, body: unknown): void {
  io.stdout(JSON.stringify(body, null, 2) + '\n')
}

/** A stable id per name, shaped like the uuid the backend would send: a
 *  repeated `dtma deploy` of the same request is then the same spec, so the
 *  agent answers 200 with the existing container instead of a 409. */
function accountToolInstanceIdFor(name: string): string {
  const hex = createHash('sha256').update(`dtma-cli:${name}`).digest('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/** How long to wait, once the deploy answered, for the events stream to
 *  catch up (its pull events arrive on another connection). */
const EVENTS_CATCH_UP_MS = 2000

/** Follows the agent's `pull` events for one instance while its deploy runs.
 *  Returns a function to call with the deployed container's id: it returns
 *  once the stream has shown that container (every pull event comes before
 *  it), or after a short wait. An agent without the events route just
 *  deploys without a bar. */
async function watchPull(client: DtmaClient, name: string, progress: PullProgress): Promise<(containerId: string | undefined) => Promise<void>> {
  const controller = new AbortController()
  const reply = await client.events({ query: { name }, signal: controller.signal, timeoutMs: 5000 }).catch(() => undefined)
  if (reply?.status !== 200) return async () => undefined
  const seenContainers = new Set<string>()
  let seen: () => void = () => undefined
  const reading = (async () => {
    for await (const event of readServerSentEvents(reply.response)) {
      if (event.event === 'pull') progress.update(JSON.parse(event.data) as PullProgressEvent)
      if (event.event === 'instance') {
        const changed = JSON.parse(event.data) as InstanceEvent
        if (changed.instance !== null) seenContainers.add(changed.instance.container_id)
        seen()
      }
    }
  })().catch(() => undefined)
  return async (containerId) => {
    if (containerId !== undefined) {
      const deadline = Date.now() + EVENTS_CATCH_UP_MS
      while (!seenContainers.has(containerId) && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          seen = resolve
          setTimeout(resolve, deadline - Date.now())
        })
      }
    }
    controller.abort()
    await reading
  }
}

async function deploy(client: DtmaClient, invocation: Invocation, io: Io): Promise<void> {
  const { name, env, ports, accountToolInstanceId, forcePull } = invocation.deploy
  const portBindings: Record<string, Array<{ HostPort: string }>> = {}
  for (const { containerPort, hostPort } of ports) {
    const key = containerPort.includes('/') ? containerPort : `${containerPort}/tcp`
    ;(portBindings[key] ??= []).push({ HostPort: hostPort })
  }
  const progress = new PullProgress(io.stderr, io.stderrIsTty)
  const stopWatching = invocation.json ? async () => undefined : await watchPull(client, name, progress)
  let reply
  let containerId: string | undefined
  try {
    reply = await client.deployTool({
      body: {
        dockerImageUrl: invocation.target as string,
        instanceNameOnToolbox: name,
        accountToolInstanceId: accountToolInstanceId ?? accountToolInstanceIdFor(name),
        baseConfigOverrideJson: { Env: env, HostConfig: { PortBindings: portBindings } },
        ...(forcePull ? { forcePull: true } : {})
      },
      timeoutMs: invocation.timeoutMs ?? DEPLOY_TIMEOUT_MS
    })
    if (reply.status === 200 || reply.status === 201) containerId = reply.body.data.container_id
  } finally {
    await stopWatching(containerId)
    progress.finish()
  }
  const ok = expectOk(reply)
  if (invocation.json) return printJson(io, ok.body)
  const data = ok.body.data
  const source = data.image_source === 'local-after-failed-pull' ? ' (pull failed: deployed the local copy)' : data.image_source === 'pulled' ? ' (pulled)' : ''
  const bound = data.ports.length > 0 ? `, ports ${formatPorts(data.ports)}` : ''
  io.stdout(`${ok.body.message}\n${name}: ${data.state}, container ${data.container_id.slice(0, 12)}, image ${data.image}${source}${bound}\n`)
  for (const warning of ok.body.warnings ?? []) io.stderr(`warning: ${warning}\n`)
}

async function logs(client: DtmaClient, invocation: Invocation, io: Io): Promise<void> {
  const { follow, tail, since } = invocation.logs
  const reply = await client.toolLogs({
    params: { name: invocation.target as string },
    query: { ...(tail === undefined ? {} : { tail }), ...(since === undefined ? {} : { since }), ...(follow ? { follow: true } : {}) },
    signal: io.interrupt,
    ...(invocation.timeoutMs === undefined ? {} : { timeoutMs: invocation.timeoutMs })
  })
  if (reply.status !== 200) {
    expectOk(reply)
    return
  }
  const body = reply.response.body
  if (body === null) return
  const reader = body.pipeThrough(new TextDecoderStream()).getReader()
  try {
    for (let next = await reader.read(); !next.done; next = await reader.read()) io.stdout(next.value)
  } catch (error) {
    // Ctrl-C while following is how a follow ends, not a failure.
    if (!io.interrupt.aborted) throw error
  }
}

/** Runs one parsed invocation (not help) against the agent. */
export async function runCommand(invocation: Invocation, io: Io): Promise<void> {
  const client = createDtmaClient({
    baseUrl: invocation.url,
    ...(invocation.token === undefined ? {} : { token: invocation.token }),
    timeoutMs: invocation.timeoutMs ?? DEFAULT_TIMEOUT_MS
  })
  const name = invocation.target as string
  switch (invocation.command) {
    case 'ls': {
      const ok = expectOk(await client.listTools())
      return invocation.json ? printJson(io, ok.body) : io.stdout(instanceTable(ok.body.data))
    }
    case 'status': {
      if (invocation.target === undefined) {
        const ok = expectOk(await client.status())
        return invocation.json ? printJson(io, ok.body) : io.stdout(agentDetail(ok.body))
      }
      const ok = expectOk(await client.getTool({ params: { name } }))
      return invocation.json ? printJson(io, ok.body) : io.stdout(instanceDetail(ok.body.data))
    }
    case 'deploy':
      return deploy(client, invocation, io)
    case 'start':
    case 'stop':
    case 'restart': {
      const call = { start: client.startTool, stop: client.stopTool, restart: client.restartTool }[invocation.command]
      const ok = expectOk(await call({ params: { name } }))
      return invocation.json ? printJson(io, ok.body) : io.stdout(`${ok.body.message}\n`)
    }
    case 'rm': {
      const ok = expectOk(await client.removeTool({ params: { name } }))
      return invocation.json ? printJson(io, ok.body) : io.stdout(`${ok.body.message}\n`)
    }
    case 'logs':
      return logs(client, invocation, io)
    case 'mcp':
      return mcpCommand(invocation, io)
    case 'approve': {
      const { tools } = invocation.approve
      const ok = expectOk(await client.approveTools({ params: { name }, body: tools.length === 0 ? { all: true } : { tools } }))
      return invocation.json ? printJson(io, ok.body) : io.stdout(`${ok.body.message}\n`)
    }
    case 'legacy': {
      const ok = expectOk(await client.listLegacy())
      return invocation.json ? printJson(io, ok.body) : io.stdout(legacyTable(ok.body.data))
    }
    case 'adopt': {
      const { accountToolInstanceId, instanceName } = invocation.adopt
      const body = { ...(accountToolInstanceId !== undefined && { accountToolInstanceId }), ...(instanceName !== undefined && { instanceNameOnToolbox: instanceName }) }
      const ok = expectOk(await client.adoptLegacy({ params: { name }, body }))
      if (invocation.json) return printJson(io, ok.body)
      io.stdout(`${ok.body.message}\n${instanceDetail(ok.body.data)}`)
      for (const warning of ok.body.warnings ?? []) io.stderr(`warning: ${warning}\n`)
      return
    }
    case 'help':
    case 'version':
    case 'token':
      return
  }
}
