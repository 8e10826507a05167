// docs/operations.md kept honest: every command block of the runbook
// (```sh runbook:NAME) is run here, verbatim, in the runbook's order, through
// bash on a real Docker engine, with the runbook's variables set to this
// test's toolbox: provision, read, upgrade, back up, restore, reboot, roll
// back by hand. A tool deployed at the start must run throughout.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createDtmaClient } from '@dtma/contract'
import t from 'tap'
import { docker, FLEET_KEY, freePort, TEST_CREDENTIAL_SETTINGS, TEST_IMAGE, TOKEN, uniqueName } from '../test/helpers/agent.ts'
import { buildAgentImage, removeImages, ROOT, run, sourceCommit } from './helpers/agent-image.ts'

t.setTimeout(1_200_000)

const RUNBOOK_ORDER = ['provision', 'read', 'fleet-key', 'policy', 'upgrade', 'backup', 'restore', 'after-reboot', 'rollback-by-hand']

function runbookBlocks(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8')
  return new Map([...text.matchAll(/```sh runbook:([a-z-]+)\n([\s\S]*?)```/g)].map((match) => [match[1] as string, match[2] as string]))
}

t.test('every command of docs/operations.md works as printed', async (t) => {
  const blocks = runbookBlocks()
  t.same([...blocks.keys()], RUNBOOK_ORDER, 'the runbook blocks, in order: each is run below')
  const untagged = [...readFileSync(join(ROOT, 'docs/operations.md'), 'utf8').matchAll(/```sh\n/g)].length
  t.equal(untagged, 1, 'one untagged block: the variables, which this test sets itself')

  const id = randomBytes(3).toString('hex')
  const dir = mkdtempSync(join(tmpdir(), 'dtma-runbook-'))
  const vars = {
    AGENT: `dtma_manager_runbook_${id}`,
    PORT: String(await freePort()),
    TOKEN,
    IMAGE: `dtma-agent:fleet-runbook-prev-${id}`,
    NEW: `dtma-agent:fleet-runbook-new-${id}`,
    DATA: `dtma-data-runbook-${id}`,
    BACKUPS: join(dir, 'backups'),
    SETTINGS: join(dir, 'agent.env')
  }
  const scope = `runbook-${id}`
  writeFileSync(vars.SETTINGS, `${TEST_CREDENTIAL_SETTINGS.join('\n')}\nDTMA_SCOPE=${scope}\nDTMA_TOOL_HOST_IP=127.0.0.1\nOFFLINE_MODE=true\nDTMA_ADOPT_LABELLED=false\n`, { mode: 0o600 })
  t.teardown(async () => {
    for (const name of [vars.AGENT, `${vars.AGENT}-previous`]) await docker.getContainer(name).remove({ force: true, v: true }).catch(() => undefined)
    const tools = await docker.listContainers({ all: true, filters: { label: [`dtma.scope=${scope}`] } })
    await Promise.all(tools.map((tool) => docker.getContainer(tool.Id).remove({ force: true })))
    await docker.getVolume(vars.DATA).remove().catch(() => undefined)
    await removeImages([vars.IMAGE, vars.NEW])
    rmSync(dir, { recursive: true, force: true })
  })
  const commit = await sourceCommit()
  await buildAgentImage(vars.IMAGE, { version: `0.1.0-runbook.${id}`, commit })
  await buildAgentImage(vars.NEW, { version: `0.2.0-runbook.${id}`, commit })

  const runBlock = async (name: string) => {
    const result = await run('bash', ['-euo', 'pipefail', '-c', blocks.get(name) as string], { env: { PATH: process.env.PATH, ...vars }, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 }).then(
      (done) => ({ code: 0, out: done.stdout + done.stderr }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? 1, out: `${error.stdout ?? ''}${error.stderr ?? ''}` })
    )
    t.equal(result.code, 0, `runbook:${name} ran${result.code === 0 ? '' : `:\n${result.out}`}`)
    return result.out
  }
  const agent = createDtmaClient({ baseUrl: `http://127.0.0.1:${vars.PORT}`, token: TOKEN, timeoutMs: 30_000 })
  const name = uniqueName('Runbook')
  const toolRuns = async (what: string) => t.match(await agent.getTool({ params: { name } }), { status: 200, body: { data: { status: 'running' } } }, `the tool runs ${what}`)

  await runBlock('provision')
  t.equal((await agent.deployTool({ body: { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: randomUUID(), baseConfigOverrideJson: { Env: ['API_KEY=runbook'] } } })).status, 201)
  t.match(await runBlock('read'), new RegExp(`"status":"healthy"[\\s\\S]*${name}`), 'read: /status, and dtma ls lists the tool')
  // One call with the fleet key, as the deployed backend makes it: the block shows it counted.
  t.equal((await fetch(`http://127.0.0.1:${vars.PORT}/tools`, { headers: { authorization: `Bearer ${FLEET_KEY}` } })).status, 200, 'the fleet key still lists the tools')
  t.match(await runBlock('fleet-key'), /^dtma_fleet_key_uses_total\{[^}]*\} 1$/m, 'fleet-key: the metric counts the one use')
  const policy = await runBlock('policy')
  t.match(policy, /"network_policy":\{"state":"enforced"/, 'policy: the agent in its container keeps the tool network policy in force')
  t.match(policy, /-j DTMA-H-/, 'policy: the host chain is hooked into INPUT')
  const upgraded = await runBlock('upgrade')
  t.match(upgraded, /done \(succeeded\)/)
  t.match(await agent.status(), { status: 200, body: { version: `0.2.0-runbook.${id}` } })
  await toolRuns('after the upgrade')
  t.match(await runBlock('backup'), /dtma-store-\d{4}-.*\.tar/)
  await runBlock('restore')
  await toolRuns('after a restore')
  t.match(await runBlock('after-reboot'), new RegExp(`${vars.AGENT} Up[\\s\\S]*${name}\\s+running`))
  await toolRuns('after a restart of the agent')

  // A cut-short upgrade: the previous agent aside, something else under its name.
  await docker.getContainer(vars.AGENT).stop()
  await docker.getContainer(vars.AGENT).rename({ name: `${vars.AGENT}-previous` })
  await docker.createContainer({ name: vars.AGENT, Image: TEST_IMAGE })
  await runBlock('rollback-by-hand')
  await toolRuns('after a rollback by hand')
  t.equal((await agent.removeTool({ params: { name } })).status, 200)
})
