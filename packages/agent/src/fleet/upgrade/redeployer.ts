// POST /redeploy: the agent upgrades itself through a short-lived helper
// container of its own image that runs `dtma-upgrade` on the Docker socket
// (the agent cannot do it in its own process: it is stopped on the way).
// The agent follows the helper's JSON lines as `upgrade` events and log
// lines while it runs; the agent that answers afterwards (the new one, or
// the previous one after a rollback) finds the helper at its start, follows
// it to its end, reports the outcome and removes it. The helper is known by
// what the agent recorded in its data volume (helper-record.ts), never by a
// label: any image can carry `dtma.upgrade-operation`, and a tool made of it
// would otherwise make every later upgrade a 409 and write upgrade events.
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { createInterface } from 'node:readline'
import { UpgradeEvent, type RedeployBody } from '@dtma/contract'
import type { Logger } from 'pino'
import { Value } from 'typebox/value'
import { DtmaError, isDtmaError } from '../../errors.ts'
import type { ContainerInfo, ContainerRuntime } from '../../runtime/types.ts'
import type { UpgradeListener } from '../fleet-api.ts'
import { HelperRecord } from './helper-record.ts'

/** Marks an upgrade helper container with its operation id. */
export const UPGRADE_LABEL = 'dtma.upgrade-operation'
/** The agent container a helper upgrades: an agent follows only its own helpers. */
export const UPGRADE_AGENT_LABEL = 'dtma.upgrade-agent'
/** Where the helper writes backups; the host side is DTMA_BACKUP_DIR. */
export const HELPER_BACKUP_DIR = '/var/backups/dtma'
const DEFAULT_TIMEOUT_S = 120

export interface RedeployerOptions {
  runtime: ContainerRuntime
  logger: Logger
  /** The agent's own container (name or id); default the one whose id this host name is. */
  agentContainer?: string
  /** Host directory the helper writes backups into. */
  backupDir: string
  /** The named volume the store goes on. */
  dataVolume: string
  /** The Docker socket as this agent sees it (its host side is mounted into the helper). */
  dockerSocket: string
  /** The file in the data volume that names the running helper (the next agent reads it). */
  helperRecordFile: string
}

export class Redeployer {
  private readonly listeners = new Set<UpgradeListener>()
  private last: UpgradeEvent | undefined
  private running: string | undefined
  private readonly log: Logger
  private readonly record: HelperRecord

  constructor(private readonly options: RedeployerOptions) {
    this.log = options.logger.child({ component: 'upgrade' })
    this.record = new HelperRecord(options.helperRecordFile)
  }

  onUpgrade(listener: UpgradeListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  lastUpgrade(): UpgradeEvent | undefined {
    return this.last
  }

  async redeploy(body: RedeployBody): Promise<{ operationId: string; message: string }> {
    // Decided before the first await: of two calls at once, the second sees the first's operation.
    if (this.running !== undefined) throw new DtmaError('conflict', `An upgrade of this agent is running already (operation ${this.running}); follow it on GET /events`)
    const operationId = randomUUID()
    this.running = operationId
    try {
      const self = await this.selfContainer()
      if (self === undefined) {
        throw new DtmaError('not-implemented', 'This DTMA agent does not run in a Docker container it can find (DTMA_AGENT_CONTAINER): upgrade it where it is installed (docs/operations.md)')
      }
      const image = body.image ?? self.image
      const socket = self.mounts?.find((mount) => mount.destination === this.options.dockerSocket)?.source ?? '/var/run/docker.sock'
      const containerName = `dtma-upgrade-${operationId.slice(0, 8)}`
      // Written before the helper starts: it may stop this agent at once, and the next one reads it.
      this.record.write({ operationId, containerName, agent: self.name })
      const helperId = await this.options.runtime.runHelper({
        containerName,
        image: self.image,
        cmd: ['dtma-upgrade', '--json', '--container', self.name, '--image', image, '--data-volume', this.options.dataVolume, '--pull', body.image === undefined ? 'always' : 'missing', '--timeout', String(body.timeoutSeconds ?? DEFAULT_TIMEOUT_S), '--operation-id', operationId],
        binds: [`${socket}:/var/run/docker.sock`, `${this.options.backupDir}:${HELPER_BACKUP_DIR}`],
        // The helper checks the new agent where its callers reach it: the host's published port.
        networkMode: 'host',
        labels: { [UPGRADE_LABEL]: operationId, [UPGRADE_AGENT_LABEL]: self.name }
      }).catch((error: unknown) => {
        // What Docker refuses here is the agent's own image, not the caller's input.
        throw isDtmaError(error, 'invalid') ? new DtmaError('docker-failed', `Docker could not start the upgrade helper: ${error.message}`, { cause: error }) : error
      })
      this.record.write({ operationId, containerName, agent: self.name, helperId })
      this.log.info({ operationId, helperId, image }, 'upgrade helper started')
      void this.follow(helperId, operationId)
      return { operationId, message: `DTMA is upgrading to ${image} (operation ${operationId}): it stops and answers again in a few seconds, or the previous agent does after a rollback. Tool containers keep running. Follow it on GET /events (upgrade).` }
    } catch (error) {
      if (this.running === operationId) {
        this.running = undefined
        this.record.clear(operationId)
      }
      throw error
    }
  }

  /** At start: follows the upgrade helper this agent's data volume names (the
   *  upgrade that started this agent, or rolled back to it), if it is still there. */
  async collectAtStart(): Promise<void> {
    try {
      const recorded = this.record.read()
      if (recorded === undefined) return
      const self = await this.selfContainer()
      // Outside a container no helper upgrades this agent; on a shared engine another agent's are not its own.
      if (self === undefined || recorded.agent !== self.name) return
      const helper = await this.options.runtime.inspect(recorded.helperId ?? recorded.containerName)
      // The name alone could be anyone's by now: the container must carry the operation's id, which only this agent knew.
      if (helper === undefined || helper.labels[UPGRADE_LABEL] !== recorded.operationId || helper.labels[UPGRADE_AGENT_LABEL] !== self.name) {
        this.record.clear(recorded.operationId)
        return
      }
      void this.follow(helper.id, recorded.operationId)
    } catch (error) {
      this.log.warn({ err: error }, 'looking for the upgrade helper failed')
    }
  }

  private async follow(helperId: string, operationId: string): Promise<void> {
    this.running = operationId
    try {
      const stream = await this.options.runtime.logs(helperId, { tail: 10_000, follow: true, maxBytes: Number.POSITIVE_INFINITY })
      for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) this.onLine(line)
      const helper = await this.options.runtime.inspect(helperId)
      if (helper !== undefined && helper.dockerState !== 'running') await this.options.runtime.remove(helperId)
      if (helper === undefined || helper.dockerState !== 'running') this.record.clear(operationId)
    } catch (error) {
      this.log.warn({ err: error, operationId }, 'following the upgrade helper stopped')
    } finally {
      if (this.running === operationId) this.running = undefined
    }
  }

  private onLine(line: string): void {
    let event: unknown
    try {
      event = JSON.parse(line)
    } catch {
      return
    }
    if (!Value.Check(UpgradeEvent, event)) return
    this.last = event
    const level = event.status === 'failed' ? 'error' : event.status === 'rolled-back' ? 'warn' : 'info'
    this.log[level]({ operationId: event.operation_id, step: event.step, status: event.status, elapsedMs: event.elapsed_ms }, `upgrade: ${event.message}`)
    for (const listener of this.listeners) listener(event)
  }

  private async selfContainer(): Promise<ContainerInfo | undefined> {
    const name = this.options.agentContainer ?? hostname()
    const container = await this.options.runtime.inspect(name)
    if (container === undefined) return undefined
    // By host name: Docker names a container's host after its id.
    if (this.options.agentContainer === undefined && !container.id.startsWith(name)) return undefined
    return container
  }
}
