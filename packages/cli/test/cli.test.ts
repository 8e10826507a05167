// The `dtma` CLI through its real binary (node dist/bin.js) against a real
// agent and Docker engine: lifecycle, table and JSON output, exit codes with
// the agent's sentence, followed logs, and the pull progress of a deploy.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { bin, dtma } from './helpers/run-cli.ts'
import { docker, dockerState, fetchText, freePort, startTestAgent, TEST_IMAGE, TOKEN, uniqueName, type TestAgent } from '../../agent/test/helpers/agent.ts'
import { ensureChattyImage } from '../../agent/test/helpers/images.ts'
import { ensureMcpImages, MCP_IMAGES, mcpDeployBody } from '../../agent/test/helpers/mcp.ts'

const REGISTRY = process.env.DTMA_TEST_REGISTRY ?? '127.0.0.1:5000'

/** Deploys through the CLI; the agent helper's teardown removes the container. */
function track(agent: TestAgent, name: string): void {
  agent.deployBody(name)
}

t.test('deploy, ls, status, stop, start, restart, rm through the binary', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Cli')
  track(agent, name)
  const hostPort = await freePort()

  const deployed = await dtma(agent, ['deploy', TEST_IMAGE, '--name', name, '--env', 'GREETING=hi', '-e', 'FROM_SHELL', '--port', `8080:${hostPort}`], { FROM_SHELL: 'shell-value' })
  t.equal(deployed.code, 0, deployed.stderr)
  t.match(deployed.stdout, `Tool instance '${name}' deployed.`)
  t.match(deployed.stdout, `${name}: running`)
  t.ok(await fetchText(`http://127.0.0.1:${hostPort}/`), 'the tool answers on the host port given as CONTAINER:HOST')

  const again = await dtma(agent, ['deploy', TEST_IMAGE, '--name', name, '--env', 'GREETING=hi', '-e', 'FROM_SHELL', '--port', `8080:${hostPort}`], { FROM_SHELL: 'shell-value' })
  t.equal(again.code, 0, 'the same deploy again is idempotent (stable account tool instance id per name)')

  const record = agent.store.get(name)
  t.same(record?.spec.env, ['GREETING=hi', 'FROM_SHELL=shell-value'], '--env KEY takes the value from the shell')

  const table = await dtma(agent, ['ls'])
  t.equal(table.code, 0)
  const [header, ...rows] = table.stdout.trimEnd().split('\n')
  t.match(header, /^NAME\s+STATUS\s+DOCKER\s+MCP\s+IMAGE\s+PORTS\s+EGRESS\s+AGE\s+CONTAINER$/)
  const row = rows.find((line) => line.startsWith(name))
  t.match(row, new RegExp(`running\\s+running\\s+-\\s+${TEST_IMAGE}\\s+127\\.0\\.0\\.1:${hostPort}->8080/tcp\\s+internet\\s`), 'not an MCP server: - in the MCP column; the default egress')

  const listed = await dtma(agent, ['ls', '--json'])
  const list = JSON.parse(listed.stdout) as { data: Array<{ instance_name_on_toolbox: string; container_id: string; status: string }> }
  const instance = list.data.find((item) => item.instance_name_on_toolbox === name)
  t.equal(instance?.status, 'running', '--json prints the agent body')
  const containerId = instance?.container_id ?? ''

  const stopped = await dtma(agent, ['stop', name])
  t.equal(stopped.code, 0)
  t.equal(stopped.stdout, `Tool instance '${name}' stopped.\n`)
  t.equal(await dockerState(containerId), 'exited')
  const detail = await dtma(agent, ['status', name])
  t.match(detail.stdout, /status:\s+stopped/)
  t.match(detail.stdout, /desired:\s+stopped/)

  t.equal((await dtma(agent, ['start', name])).code, 0)
  t.equal(await dockerState(containerId), 'running')
  const restarted = await dtma(agent, ['restart', name, '--json'])
  t.equal(restarted.code, 0)
  t.match(JSON.parse(restarted.stdout), { success: true, data: { state: 'running' } })

  const agentStatus = await dtma(agent, ['status'])
  t.match(agentStatus.stdout, /status:\s+healthy/)

  const removed = await dtma(agent, ['rm', name])
  t.equal(removed.code, 0)
  t.equal(removed.stdout, `Tool instance '${name}' removed successfully.\n`)
  t.equal(await dockerState(containerId), undefined, 'the container is gone')

  for (const output of [deployed, again, table, listed, stopped, detail, restarted, agentStatus, removed]) {
    t.notMatch(output.stdout + output.stderr, TOKEN, 'the token is never printed')
    t.notMatch(output.stdout + output.stderr, 'shell-value', 'env values are never printed')
  }
})

t.test('errors: the agent sentence on stderr and an exit code per kind', async (t) => {
  const agent = await startTestAgent(t)
  const name = uniqueName('Missing')

  const missing = await dtma(agent, ['stop', name])
  t.equal(missing.code, 1)
  t.equal(missing.stdout, '')
  t.equal(missing.stderr, `dtma: Tool instance '${name}' not found or not managed by this DTMA.\n`)

  const missingJson = await dtma(agent, ['status', name, '--json'])
  t.equal(missingJson.code, 1)
  t.match(JSON.parse(missingJson.stdout), { success: false, code: 'DTMA_NOT_FOUND' }, '--json prints the error body too')

  const forbidden = await dtma(agent, ['ls'], { DTMA_TOKEN: 'wrong-token' })
  t.equal(forbidden.code, 1)
  t.match(forbidden.stderr, /^dtma: Unauthorized: the bearer credential is not a token/)
  t.notMatch(forbidden.stderr, 'wrong-token')

  const noToken = await dtma(agent, ['ls'], { DTMA_TOKEN: '' })
  t.equal(noToken.code, 1)
  t.match(noToken.stderr, 'Unauthorized: Missing or invalid token format')

  const viaFlags = await dtma({ baseUrl: 'http://127.0.0.1:1' }, ['ls', '--url', agent.baseUrl, '--token', TOKEN])
  t.equal(viaFlags.code, 0, 'flags win over the environment')

  const badImage = await dtma(agent, ['deploy', 'NOT A VALID IMAGE', '--name', uniqueName('Bad')])
  t.equal(badImage.code, 1, 'the agent refuses an invalid image with a 400')
  t.match(badImage.stderr, /^dtma: .+/)

  const unreachable = await dtma({ baseUrl: `http://127.0.0.1:${await freePort()}` }, ['ls'])
  t.equal(unreachable.code, 3)
  t.match(unreachable.stderr, /^dtma: DTMA unreachable at http:\/\/127\.0\.0\.1:\d+/)

  for (const args of [['frobnicate'], ['deploy', TEST_IMAGE], ['deploy', TEST_IMAGE, '--name', 'x', '--port', '30001:x'], ['ls', '--name', 'x'], ['stop'], ['logs', 'x', '--tail', 'many'], ['ls', '--bogus']]) {
    const usage = await dtma(agent, args)
    t.equal(usage.code, 2, `usage error: ${args.join(' ')}`)
    t.match(usage.stderr, "Run 'dtma --help' for usage.")
  }
  const help = await dtma(agent, ['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /^Usage: dtma <command>/)
})

t.test('logs: a tail, and -f follows until interrupted', async (t) => {
  const agent = await startTestAgent(t)
  const image = await ensureChattyImage()
  const name = uniqueName('Chatty')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(name, { image }) })).status, 201)
  await new Promise((resolve) => setTimeout(resolve, 1500))

  const tail = await dtma(agent, ['logs', name, '--tail', '4'])
  t.equal(tail.code, 0, tail.stderr)
  t.equal(tail.stdout.trimEnd().split('\n').length, 4, 'the last 4 lines, stdout and stderr merged')
  t.match(tail.stdout, /^(out|err) \d+$/m)

  const child = spawn(process.execPath, [bin, 'logs', name, '-f', '--tail', '0'], { env: { PATH: process.env.PATH, DTMA_URL: agent.baseUrl, DTMA_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'pipe'] })
  let followed = ''
  child.stdout.on('data', (chunk: Buffer) => (followed += chunk.toString()))
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
  const deadline = Date.now() + 10_000
  while ((followed.match(/^out \d+$/gm) ?? []).length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.ok((followed.match(/^out \d+$/gm) ?? []).length >= 3, 'new lines arrive while following')
  child.kill('SIGINT')
  t.equal(await closed, 0, 'Ctrl-C ends a follow with exit 0')

  const missing = await dtma(agent, ['logs', uniqueName('Nobody'), '-f'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, 'not found or not managed by this DTMA.')
})

t.test('deploy of a missing image draws the pull progress', async (t) => {
  const agent = await startTestAgent(t)
  // A fresh layer (random bytes), pushed to the loopback registry and removed
  // locally, so the deploy has to download it.
  const image = `${REGISTRY}/dtma-test/cli-pull:t${randomBytes(4).toString('hex')}`
  const [repo, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)]
  const builder = await docker.createContainer({ Image: TEST_IMAGE, Cmd: ['sh', '-c', 'head -c 2000000 /dev/urandom > /blob'] })
  await builder.start()
  await builder.wait()
  await builder.commit({ repo, tag })
  await builder.remove({ force: true })
  const pushed = await docker.getImage(image).push({ authconfig: { serveraddress: REGISTRY } })
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(pushed, (error: Error | null) => (error ? reject(error) : resolve())))
  await docker.getImage(image).remove()
  t.teardown(() => docker.getImage(image).remove({ force: true }).catch(() => undefined))

  const name = uniqueName('Pulled')
  track(agent, name)
  const deployed = await dtma(agent, ['deploy', image, '--name', name])
  t.equal(deployed.code, 0, deployed.stderr)
  t.match(deployed.stdout, '(pulled)')
  const lines = deployed.stderr.trimEnd().split('\n')
  t.ok(lines.some((line) => /^pull \S+ \[[#-]{30}\] +\d+% \d+\/\d+ layers/.test(line)), 'progress bar lines on stderr')
  t.match(lines.filter((line) => line.includes('%')).at(-1), /\[#{30}\] 100% (\d+)\/\1 layers 2\.0\/2\.0 MB$/, 'ends at 100% with the layer size')
  t.match(lines.at(-1), `pull Downloaded newer image for ${image}`)

  const quiet = await dtma(agent, ['deploy', image, '--name', name, '--json'])
  t.equal(quiet.code, 0)
  t.equal(quiet.stderr, '', '--json draws no progress')
  t.equal(JSON.parse(quiet.stdout).data.image_source, 'local', 'the image is now present')
})

t.test('deploy --port CONTAINER lets the agent pick the host port; a reassigned port is reported', async (t) => {
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '31700-31709' } })
  const picked = uniqueName('Picked Port')
  track(agent, picked)
  const deployed = await dtma(agent, ['deploy', TEST_IMAGE, '--name', picked, '--port', '8080'])
  t.equal(deployed.code, 0, deployed.stderr)
  t.match(deployed.stdout, `${picked}: running`)
  const bound = Number(/ports 127\.0\.0\.1:(317\d\d)->8080\/tcp/.exec(deployed.stdout)?.[1])
  t.ok(bound >= 31700 && bound <= 31709, `the bound port of the range is printed (${bound})`)
  t.equal(await fetchText(`http://127.0.0.1:${bound}/`), 'dtma-test-ok\n', 'and the tool answers on it')

  const greedy = uniqueName('Greedy Port')
  track(agent, greedy)
  const reassigned = await dtma(agent, ['deploy', TEST_IMAGE, '--name', greedy, '--port', `8080:${agent.port}`])
  t.equal(reassigned.code, 0, reassigned.stderr)
  t.match(reassigned.stdout, /is the DTMA agent's own port: 8080\/tcp is bound to 317\d\d instead/)
  t.match(reassigned.stderr, /^warning: host port \d+ is the DTMA agent's own port/m, 'and warned on stderr')
})

t.test('mcp NAME tools and mcp NAME call TOOL --arg, through the agent; the MCP status in ls', async (t) => {
  await ensureMcpImages()
  const agent = await startTestAgent(t, { env: { DTMA_TOOL_PORT_RANGE: '43500-43549' } })
  const name = uniqueName('Cli Mcp')
  agent.deployBody(name)
  t.equal((await agent.client.deployTool({ body: { ...mcpDeployBody(name, MCP_IMAGES.toolsV1, 'stdio'), waitForMcp: true } })).status, 201)

  const tools = await dtma(agent, ['mcp', name, 'tools'])
  t.equal(tools.code, 0, tools.stderr)
  t.match(tools.stdout, /^TOOL\s+DESCRIPTION\n/)
  t.match(tools.stdout, /\nadd\s+Adds two numbers\n/)
  t.match(tools.stdout, /\necho\s+Echoes the text back\n/)
  const listed = JSON.parse((await dtma(agent, ['mcp', name, 'tools', '--json'])).stdout) as { tools: Array<{ name: string }> }
  t.same(listed.tools.map((tool) => tool.name).sort(), ['add', 'echo'], '--json prints the listed tools')

  t.same(await dtma(agent, ['mcp', name, 'call', 'add', '--arg', 'a=2', '--arg', 'b=40']), { code: 0, stdout: '42\n', stderr: '' }, 'numbers are JSON')
  t.same((await dtma(agent, ['mcp', name, 'call', 'echo', '--arg', 'text=hello world'])).stdout, 'hello world\n', 'text is text')
  const failed = await dtma(agent, ['mcp', name, 'call', 'add', '--arg', 'a=x', '--arg', 'b=1'])
  t.equal(failed.code, 1, "a tool's error is a refusal")
  t.match(failed.stderr, /dtma: tool 'add' failed: .*number/i)

  const table = await dtma(agent, ['ls'])
  t.match(table.stdout.split('\n').find((line) => line.startsWith(name)), /running\s+running\s+ready \(2 tools\)/, 'ls shows the MCP status')
  t.match((await dtma(agent, ['status', name])).stdout, /mcp:\s+stdio, ready/)

  const plain = uniqueName('Cli Plain')
  t.equal((await agent.client.deployTool({ body: agent.deployBody(plain) })).status, 201)
  const notMcp = await dtma(agent, ['mcp', plain, 'tools'])
  t.equal(notMcp.code, 1)
  t.match(notMcp.stderr, /is not an MCP server/, "the agent's sentence")
  const wrongToken = await dtma(agent, ['mcp', name, 'tools'], { DTMA_TOKEN: 'wrong' })
  t.equal(wrongToken.code, 1)
  t.match(wrongToken.stderr, /Unauthorized: the bearer credential is not a token/)
  t.equal((await dtma(agent, ['mcp', name])).code, 2, 'usage: no action')
  t.equal((await dtma(agent, ['mcp', name, 'call'])).code, 2, 'usage: no tool')
  t.equal((await dtma(agent, ['mcp', name, 'tools', '--arg', 'a=1'])).code, 2, 'usage: tools takes no args')
  t.equal((await dtma(agent, ['mcp', name, 'call', 'add', '--arg', 'nokey'])).code, 2, 'usage: --arg K=V')
  t.equal((await dtma({ baseUrl: 'http://127.0.0.1:1' }, ['mcp', name, 'tools'])).code, 3, 'no agent there')
})
