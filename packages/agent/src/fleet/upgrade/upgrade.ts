// The upgrade runbook, for this agent's container or an earlier agent's
// `dtma_manager`: check the new image (pull it when asked or missing), stop
// the old agent (its tools keep running: they are containers of their own),
// back up its config and store, keep it aside as `<name>-previous`, start
// the new one with the same settings on a named data volume, and wait for
// /health/ready and the smoke test within the deadline. Then the old one is
// removed; on any failure the new one is removed and the old one started
// again, and the report says so.
import { createReadStream } from 'node:fs'
import type { AgentContainer, AgentHost, AgentImage } from '../../runtime/agent-host.ts'
import { agentCredentials, agentUrl, dataMount, envValue, newAgentSpec } from './agent-container.ts'
import { backUp } from './backup.ts'
import { agentAnswer, answers, type AgentAnswer } from './probe.ts'
import type { Report } from './report.ts'
import { runningTools, smokeFailure } from './smoke.ts'

export interface UpgradeOptions {
  container: string
  image: string
  pull: 'always' | 'missing' | 'never'
  /** From the start of the new agent to a passed smoke test. */
  timeoutMs: number
  backupDir: string
  dataVolume: string
  /** The agent's address from here; default from its published port. */
  url?: string
}

/** unchanged: refused before anything changed; broken: the rollback failed too (a person must act). */
export type Outcome = 'succeeded' | 'rolled-back' | 'unchanged' | 'broken'

/** How long the previous agent gets to answer again after a rollback. */
const ROLLBACK_WAIT_MS = 60_000
const STOP_TIMEOUT_S = 30
const POLL_MS = 250

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

class StepFailed extends Error {}

export class Upgrade {
  private old!: AgentContainer
  private url!: string
  private newId: string | undefined
  private renamed = false
  private volumeMade = false

  constructor(
    private readonly host: AgentHost,
    private readonly options: UpgradeOptions,
    private readonly report: Report
  ) {}

  async run(): Promise<Outcome> {
    let before: Map<string, boolean>
    let image: AgentImage
    let oldImage: AgentImage | undefined
    try {
      ;({ before, image, oldImage } = await this.check())
    } catch (error) {
      this.report.event('done', 'failed', `nothing was changed: ${(error as Error).message}`)
      return 'unchanged'
    }
    let stepStarted = Date.now()
    try {
      this.report.event('stop', 'running', `stopping ${this.old.name} (${this.old.image}); its tool containers keep running`)
      await this.host.stop(this.old.id, STOP_TIMEOUT_S)
      const backup = await backUp(this.host, this.old, this.options.backupDir)
      this.report.event('backup', 'running', `backed up its config to ${backup.config}${backup.store === undefined ? ' (no store: an earlier agent)' : ` and its store to ${backup.store}`} (mode 0600)`)
      stepStarted = Date.now()
      await this.start(oldImage, image, backup.store)
      const agent = await this.waitForNewAgent(before, stepStarted)
      this.report.event('cleanup', 'running', `removing the previous agent container`)
      await this.host.remove(this.old.id)
      this.report.event('done', 'succeeded', `${this.old.name} runs ${this.options.image} (version ${agent.version}, commit ${agent.commit}); ready and checked in ${((Date.now() - stepStarted) / 1000).toFixed(1)} s`)
      return 'succeeded'
    } catch (error) {
      return this.rollback((error as Error).message)
    }
  }

  private async check(): Promise<{ before: Map<string, boolean>; image: AgentImage; oldImage: AgentImage | undefined }> {
    const { host, options } = this
    const old = await host.inspect(options.container)
    if (old === undefined) throw new Error(`no container named ${options.container}`)
    this.old = old
    if (old.state !== 'running') throw new Error(`${old.name} is ${old.state}, not running: start it first, or upgrade by hand`)
    if ((await host.inspect(`${old.name}-previous`)) !== undefined) throw new Error(`${old.name}-previous exists (an earlier upgrade was cut short): look at it, then remove it or rename it back`)
    this.url = options.url ?? agentUrl(old)
    let image = await host.image(options.image)
    if (options.pull === 'always' || (options.pull === 'missing' && image === undefined)) {
      this.report.event('pull', 'running', `pulling ${options.image}`)
      try {
        await host.pull(options.image)
      } catch (error) {
        if (image === undefined) throw error
        this.report.event('pull', 'running', `pull failed (${(error as Error).message}); the local copy of ${options.image} is used`)
      }
      image = await host.image(options.image)
    }
    if (image === undefined) throw new Error(`image ${options.image} is not on this host (pull it, or use --pull)`)
    if (dataMount(old, options.dataVolume).named && (await host.volumeExists(options.dataVolume))) {
      throw new Error(`volume ${options.dataVolume} exists but ${old.name} does not keep its store there: remove the volume, or name another with --data-volume`)
    }
    const before = await runningTools(host, old.name, envValue(old.env, 'DTMA_SCOPE') ?? 'default')
    this.report.event('check', 'running', `upgrading ${old.name} from ${old.image} to ${options.image}; ${before.size} tool containers run; the agent answers at ${this.url}`)
    return { before, image, oldImage: await host.image(old.imageId) }
  }

  private async start(oldImage: AgentImage | undefined, image: AgentImage, store: string | undefined): Promise<void> {
    const { host, old, options } = this
    await host.rename(old.id, `${old.name}-previous`)
    this.renamed = true
    const data = dataMount(old, options.dataVolume)
    if (data.named) {
      await host.createVolume(options.dataVolume, { 'dtma.data': 'true' })
      this.volumeMade = true
    }
    this.newId = await host.create(newAgentSpec(old, oldImage, image, options.image, options.dataVolume))
    const seed = data.named && store !== undefined
    if (seed && store !== undefined) {
      const dataDir = data.bind.slice(data.bind.indexOf(':') + 1)
      await host.putArchive(this.newId, dataDir.slice(0, dataDir.lastIndexOf('/')) || '/', createReadStream(store))
    }
    await host.start(this.newId)
    this.report.event('start', 'running', `started ${old.name} on ${options.image} with the store on ${data.bind.split(':')[0]}${seed ? ' (moved there from the previous container)' : ''}`)
  }

  private async waitForNewAgent(before: Map<string, boolean>, started: number): Promise<AgentAnswer> {
    const deadline = started + this.options.timeoutMs
    const { host, old } = this
    let ready = false
    while (!ready) {
      if (Date.now() > deadline) throw new StepFailed(`the new agent was not ready within ${this.options.timeoutMs / 1000} s`)
      const current = await host.inspect(this.newId as string)
      if (current === undefined) throw new StepFailed('the new agent container is gone')
      if (current.state === 'exited' || current.state === 'dead' || current.restartCount > 0) throw new StepFailed(`the new agent exited (${current.state}, restarted ${current.restartCount} times, last exit code ${current.exitCode})`)
      ready = await answers(this.url, false)
      if (!ready) await sleep(POLL_MS)
    }
    this.report.event('ready', 'running', `the new agent is ready at ${this.url}`)
    for (;;) {
      const agent = await agentAnswer(this.url, await agentCredentials(old)).catch((error: Error) => new StepFailed(error.message))
      const failure = agent instanceof StepFailed ? agent.message : smokeFailure(before, await runningTools(host, old.name, envValue(old.env, 'DTMA_SCOPE') ?? 'default'), agent)
      if (failure === undefined && !(agent instanceof StepFailed)) {
        this.report.event('smoke', 'running', `smoke test passed: version ${agent.version}; ${agent.instances?.size ?? 'its'} instances listed, every tool that ran still runs`)
        return agent
      }
      if (Date.now() > deadline) throw new StepFailed(`smoke test failed: ${failure}`)
      await sleep(POLL_MS)
    }
  }

  private async rollback(reason: string): Promise<Outcome> {
    const { host, old } = this
    const started = Date.now()
    this.report.event('rollback', 'running', `rolling back: ${reason}`)
    try {
      if (this.newId !== undefined) await host.remove(this.newId)
      // The previous agent keeps its store where it was: the copy made for the new one goes.
      if (this.volumeMade) await host.removeVolume(this.options.dataVolume)
      if (this.renamed) await host.rename(old.id, old.name)
      await host.start(old.id)
      const deadline = Date.now() + ROLLBACK_WAIT_MS
      while (!(await answers(this.url, true))) {
        if (Date.now() > deadline) throw new Error(`the previous agent did not answer within ${ROLLBACK_WAIT_MS / 1000} s`)
        await sleep(POLL_MS)
      }
      this.report.event('done', 'rolled-back', `rolled back in ${((Date.now() - started) / 1000).toFixed(1)} s: the previous agent (${old.image}) answers again at ${this.url}. Reason: ${reason}`)
      return 'rolled-back'
    } catch (error) {
      this.report.event('done', 'failed', `rollback failed: ${(error as Error).message}; the upgrade failed because ${reason}. Act by hand: docs/operations.md, "Rollback by hand"`)
      return 'broken'
    }
  }
}
