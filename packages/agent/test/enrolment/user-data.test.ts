// The provisioning template's enrolment path, run by bash with a stand-in
// `docker` on PATH that records its arguments (the real engine is the serial
// cloud-init test's): the user-data and the agent's env file carry only the
// single-use enrolment token, never the fleet key, the per-VM token or the
// service-role key (the template has no place for it at all); the
// compatibility path still writes the settings it is given. Prints what each
// path leaves in the env file.
import { randomBytes } from 'node:crypto'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import t from 'tap'
import { tempDir } from '../helpers/agent.ts'
import { dockerPart, placeholders, renderTemplate } from '../helpers/user-data.ts'

function runUserData(t: { teardown(fn: () => unknown): void }, values: Record<string, string>) {
  const dir = tempDir(t, 'dtma-user-data-')
  const log = join(dir, 'docker.log')
  // Every docker call succeeds (the readiness probe included) and is recorded, one line each.
  writeFileSync(join(dir, 'docker'), `#!/bin/bash\nprintf '%s\\n' "$*" >> '${log}'\nexit 0\n`)
  chmodSync(join(dir, 'docker'), 0o755)
  const userData = renderTemplate(values)
  writeFileSync(join(dir, 'user-data.sh'), dockerPart(userData))
  const envFile = join(dir, 'agent.env')
  const result = spawnSync('bash', [join(dir, 'user-data.sh')], {
    env: { PATH: `${dir}:${process.env.PATH}`, DTMA_ENV_FILE: envFile, DTMA_CONTAINER: 'dtma_manager_test', DTMA_READY_TIMEOUT_S: '2' },
    encoding: 'utf8'
  })
  return { userData, result, envFile, env: readFileSync(envFile, 'utf8'), dockerCalls: readFileSync(log, 'utf8') }
}

const settingNames = (env: string) => env.split('\n').filter(Boolean).map((line) => line.split('=')[0]).join(', ')

t.test('the enrolment path: a single-use token is the only secret in user-data and the env file', async (t) => {
  t.notOk(placeholders().includes('SUPABASE_SERVICE_ROLE_KEY'), 'the template has no place for the service-role key')
  const enrolmentToken = `dtma_enrol_${randomBytes(32).toString('hex')}`
  const run = runUserData(t, { DTMA_IMAGE: 'dtma-agent:test', DTMA_ENROLMENT_TOKEN: enrolmentToken, AGENTOPIA_API_BASE_URL: 'https://project.supabase.co/functions/v1' })
  t.equal(run.result.status, 0, run.result.stderr)
  t.match(run.result.stdout, 'dtma: dtma_manager_test is ready')
  t.comment(`enrolment path env file: ${settingNames(run.env)}`)
  t.match(run.env, `DTMA_ENROLMENT_TOKEN=${enrolmentToken}\n`)
  t.match(run.env, 'AGENTOPIA_API_BASE_URL=https://project.supabase.co/functions/v1\n')
  for (const setting of ['BACKEND_TO_DTMA_API_KEY', 'DTMA_BEARER_TOKEN', 'DTMA_AUTH_TOKEN', 'SUPABASE_SERVICE_ROLE_KEY']) {
    t.notOk(run.env.includes(`${setting}=`), `no ${setting} in the env file`)
  }
  t.equal(statSync(run.envFile).mode & 0o777, 0o600, 'the env file is root-only')
  t.notOk(run.dockerCalls.includes(enrolmentToken), 'the token is on no docker command line')
  t.match(run.dockerCalls, /run -d --name dtma_manager_test .*--env-file .*-v dtma-data:\/var\/lib\/dtma/, 'the agent runs with its data volume, where its credentials will live')
})

t.test('the compatibility path: the settings passed directly still reach the agent', async (t) => {
  const tokens = { DTMA_BEARER_TOKEN: `vm-${randomBytes(16).toString('hex')}`, BACKEND_TO_DTMA_API_KEY: `fleet-${randomBytes(16).toString('hex')}` }
  const run = runUserData(t, { DTMA_IMAGE: 'dtma-agent:test', ...tokens, AGENTOPIA_API_BASE_URL: 'https://project.supabase.co/functions/v1', SUPABASE_URL: 'https://project.supabase.co' })
  t.equal(run.result.status, 0, run.result.stderr)
  t.comment(`compatibility path env file: ${settingNames(run.env)} (what README.md says it exposes)`)
  t.match(run.env, `DTMA_BEARER_TOKEN=${tokens.DTMA_BEARER_TOKEN}\n`)
  t.match(run.env, `BACKEND_TO_DTMA_API_KEY=${tokens.BACKEND_TO_DTMA_API_KEY}\n`)
  t.match(run.env, 'SUPABASE_URL=https://project.supabase.co\n')
  t.notOk(run.env.includes('SUPABASE_SERVICE_ROLE_KEY') || run.env.includes('DTMA_ENROLMENT_TOKEN'))
})
