// Images: pull only when missing, from a real local registry; a failed pull
// falls back to a local copy; a failed pull with no copy is a 502 that says so.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { docker, startTestAgent, TEST_IMAGE, uniqueName } from '../helpers/agent.ts'

// .ci/run starts Debian's docker-registry here (test-images/registry.yml).
const REGISTRY = process.env.DTMA_TEST_REGISTRY ?? '127.0.0.1:5000'
const DEAD_REGISTRY = '127.0.0.1:5999'

async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())))
}

t.test('a missing image is pulled, with progress logged', async (t) => {
  const agent = await startTestAgent(t)
  const [repo, tag] = [`${REGISTRY}/dtma-test/pulled`, `t${randomBytes(4).toString('hex')}`]
  const image = `${repo}:${tag}`
  await docker.getImage(TEST_IMAGE).tag({ repo, tag })
  // The engine wants an auth header even for a registry without auth.
  await drain(await docker.getImage(image).push({ authconfig: { serveraddress: REGISTRY } }))
  await docker.getImage(image).remove()
  t.teardown(() => docker.getImage(image).remove({ force: true }).catch(() => undefined))

  const deployed = await agent.client.deployTool({ body: agent.deployBody(uniqueName('Pulled'), { image }) })
  t.match(deployed, { status: 201, body: { data: { image, image_source: 'pulled', state: 'running' } } })
  const pullLines = agent.logs.filter((line) => line.includes('"msg":"pulling image"') || line.includes('"msg":"image pulled"'))
  t.equal(pullLines.length, 2, 'the pull is logged from start to end')
  t.ok(agent.logs.some((line) => line.includes('"msg":"pull progress"')), 'with progress in between')
})

t.test('a failed pull deploys the local copy and says so', async (t) => {
  const agent = await startTestAgent(t)
  const image = `${DEAD_REGISTRY}/dtma-test/local-only:v1`
  await docker.getImage(TEST_IMAGE).tag({ repo: `${DEAD_REGISTRY}/dtma-test/local-only`, tag: 'v1' })
  const body = { ...agent.deployBody(uniqueName('Fallback'), { image }), forcePull: true }
  const deployed = await agent.client.deployTool({ body })
  t.match(deployed, { status: 201, body: { message: /pull failed; the local copy was deployed/, data: { image_source: 'local-after-failed-pull', state: 'running' } } })
})

t.test('a missing image that cannot be pulled is a 502 naming the pull', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Unpullable')
  const deployed = await agent.client.deployTool({ body: agent.deployBody(name, { image: `${DEAD_REGISTRY}/dtma-test/never:v1` }) })
  t.match(deployed, { status: 502, body: { success: false, code: 'DTMA_IMAGE_PULL_FAILED', error: /Pull of image 127\.0\.0\.1:5999\/dtma-test\/never:v1 failed/ } })
  t.equal(agent.store.get(name), undefined, 'no desired state is kept for a deploy that never started')
})
