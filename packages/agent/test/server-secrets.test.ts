// Secrets never leave the agent: a full scenario against the real binary at
// trace level, with distinctive tokens and env values, then every byte the
// agent wrote (stdout and stderr), every response body (errors included, and
// the event stream, metrics and OpenAPI) and the container's labels and name
// are searched for each secret. The store holds env values by design: its
// file must be owner-only. Field names are not secrets: a 400 names an
// unknown field, so a secret sent as a JSON key would come back.
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { createDtmaClient, SCOPES, signToolboxToken } from '@dtma/contract'
import t from 'tap'
import { docker, freePort, removeInstances, tempDir, TEST_AUDIENCE, TEST_IMAGE } from './helpers/agent.ts'
import { spawnAgent } from './helpers/agent-process.ts'

t.test('tokens and env values appear in no log line, response, label or name', async (t) => {
  const backendKey = `SECRET-BACKEND-${randomBytes(12).toString('hex')}`
  const vmToken = `SECRET-VM-${randomBytes(12).toString('hex')}`
  const envSecret = `SECRET-ENV-${randomBytes(12).toString('hex')}`
  const otherEnvSecret = `SECRET-ENV2-${randomBytes(12).toString('hex')}`
  const secrets = [backendKey, vmToken, envSecret, otherEnvSecret]
  // Tokens signed with the VM secret are credentials too: none may come back either.
  const token = await signToolboxToken(vmToken, { audience: TEST_AUDIENCE, scopes: SCOPES, lifetimeSeconds: 3600 })
  secrets.push(token)

  const dataDir = tempDir(t)
  const agent = spawnAgent(dataDir, await freePort(), { BACKEND_TO_DTMA_API_KEY: backendKey, DTMA_BEARER_TOKEN: vmToken, LOG_LEVEL: 'trace' })
  t.teardown(() => agent.kill())
  await agent.ready()
  const client = createDtmaClient({ baseUrl: agent.baseUrl, token: backendKey, timeoutMs: 60_000 })
  const name = `Secretive ${randomBytes(4).toString('hex')}`
  t.teardown(() => removeInstances([name]))
  const seen: string[] = []
  const raw = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${agent.baseUrl}${path}`, { ...init, signal: AbortSignal.timeout(5000) })
    seen.push(`${response.status} ${response.headers.get('www-authenticate') ?? ''} ${await response.text()}`)
    return response.status
  }
  const json = (token: string, body: unknown) => ({ method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })

  const body = { dockerImageUrl: TEST_IMAGE, instanceNameOnToolbox: name, accountToolInstanceId: 'ati-secrets', baseConfigOverrideJson: { Env: [`OPENAI_API_KEY=${envSecret}`, 'MODE=x'] } }
  t.equal(await raw('/tools', json(backendKey, body)), 201, 'deploy')
  t.equal(await raw('/tools', json(token, body)), 200, 'the same deploy with a token signed with the VM secret')
  t.equal(await raw('/tools', json(vmToken, body)), 403, 'the VM secret itself is no bearer')
  t.equal(await raw('/tools', json(backendKey, { ...body, baseConfigOverrideJson: { Env: [`OPENAI_API_KEY=${otherEnvSecret}`] } })), 409, 'another env value: conflict')
  // Secrets inside refused requests: wrong types, bad keys, unknown fields, broken JSON.
  t.equal(await raw('/tools', json(backendKey, { ...body, baseConfigOverrideJson: { Env: `KEY=${envSecret}` } })), 400)
  t.equal(await raw('/tools', json(backendKey, { ...body, baseConfigOverrideJson: { Env: [`bad-key=${envSecret}`] } })), 400)
  t.equal(await raw('/tools', json(backendKey, { ...body, extra: envSecret })), 400)
  t.equal(await raw('/tools', json(backendKey, `{"Env":["K=${envSecret}"`)), 400)
  t.equal(await raw('/tools', { ...json(backendKey, body), headers: { authorization: `Bearer ${backendKey}`, 'content-type': 'text/plain' } }), 400)
  t.equal(await raw('/tools', { headers: { authorization: `Bearer ${backendKey}x` } }), 401, 'a near-miss key')
  t.equal(await raw('/tools', { headers: { authorization: `Bearer ${token.slice(0, -2)}` } }), 401, 'a near-miss token')
  t.equal(await raw(`/tools?access_token=${token}`), 401, 'a token in the query string')
  t.equal(await raw('/tools', { headers: { authorization: `Basic ${backendKey}` } }), 401)
  t.equal(await raw('/status', { headers: { authorization: `Bearer ${vmToken.slice(0, -1)}` } }), 200)
  for (const path of ['/tools', '/tools/status', `/tools/${encodeURIComponent(name)}`, '/status', '/metrics', '/openapi.json', `/tools/${encodeURIComponent(name)}/logs`]) {
    await raw(path, { headers: { authorization: `Bearer ${backendKey}` } })
    await raw(path, { headers: { authorization: `Bearer ${token}` } })
  }
  for (const action of ['stop', 'start', 'restart']) t.equal(await raw(`/tools/${encodeURIComponent(name)}/${action}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } }), 200, action)
  const events = await fetch(`${agent.baseUrl}/events`, { headers: { authorization: `Bearer ${backendKey}` }, signal: AbortSignal.timeout(1500) })
  const reader = events.body?.getReader()
  const firstChunk = await reader?.read()
  seen.push(Buffer.from(firstChunk?.value ?? new Uint8Array()).toString())
  await reader?.cancel()

  const container = (await client.getTool({ params: { name } })) as { status: number; body: { data: { container_id: string } } }
  const info = await docker.getContainer(container.body.data.container_id).inspect()
  const labelsAndName = JSON.stringify([info.Name, info.Config.Labels])
  t.ok(info.Config.Env.includes(`OPENAI_API_KEY=${envSecret}`), 'the tool itself gets its env value')
  t.equal(await raw(`/tools/${encodeURIComponent(name)}`, { method: 'DELETE', headers: { authorization: `Bearer ${backendKey}` } }), 200, 'remove')
  await agent.kill('SIGTERM')

  t.equal(statSync(join(dataDir, 'dtma.db')).mode & 0o777, 0o600, 'the store, which holds env values, is owner-only')
  const output = agent.output()
  const lines = output.split('\n').filter(Boolean)
  t.ok(lines.length > 50, `trace-level output captured: ${lines.length} lines`)
  t.ok(output.includes('OPENAI_API_KEY'), 'env keys may be logged')
  for (const secret of secrets) {
    // What leaked, with the secret masked, so a failure shows where.
    const leaks = (texts: string[]) => texts.filter((text) => text.includes(secret)).map((text) => text.replaceAll(secret, '<SECRET>').slice(0, 300))
    const where = ([
      ['log lines', leaks(lines)],
      ['responses', leaks(seen)],
      ['labels and name', leaks([labelsAndName])]
    ] as Array<[string, string[]]>).filter(([, found]) => found.length > 0)
    t.same(where, [], `${secret.split('-').slice(0, 2).join('-')}-...: in none of ${lines.length} log lines, ${seen.length} responses, the labels`)
  }
})
