// How an earlier agent's container is told from anything else, on evidence
// only: every way a container can fail the evidence, each with the sentence
// GET /tools/legacy shows; and the bound on take-overs at once.
import t from 'tap'
import { Slots } from '../../src/fleet/legacy/adopt-at-start.ts'
import { asLegacy, judgeContainer } from '../../src/fleet/legacy/earlier-agent.ts'
import type { ContainerInfo, ImageDefaults } from '../../src/runtime/types.ts'

const imageProcess = { cmd: ['node', 'server.js'], entrypoint: ['docker-entrypoint.sh'], user: 'node', workingDir: '/app' }
const image: ImageDefaults = { labels: { maintainer: 'x' }, env: ['PATH=/bin'], process: imageProcess }
const judged = { agentPort: 30000, image }

function container(overrides: Partial<ContainerInfo>): ContainerInfo {
  return {
    managed: false,
    id: 'id1',
    name: 'context7',
    image: 'mcp/context7',
    labels: {},
    dockerState: 'running',
    health: 'none',
    created: 0,
    ports: [{ container_port: 8080, protocol: 'tcp', host_ip: '0.0.0.0', host_port: 30005 }],
    env: ['PATH=/bin', 'API_KEY=k'],
    restartPolicy: 'unless-stopped',
    mounts: [],
    process: imageProcess,
    privileged: false,
    networkMode: 'default',
    ...overrides
  }
}

const agentopiaLabels = { 'agentopia.mcp.server': 'true', 'agentopia.mcp.instance_name': 'My MCP', 'agentopia.mcp.account_tool_instance_id': 'ati-1', 'agentopia.mcp.transport_type': 'http' }

t.test('what the earlier agent made is taken, with the evidence', async (t) => {
  t.match(judgeContainer(container({}), judged), { whyNot: undefined, reasons: ['unlabelled', 'restart-unless-stopped', 'named-like-an-instance', 'no-mounts', 'image-process', 'publishes-ports'] })
  t.match(judgeContainer(container({ ports: [] }), judged), { whyNot: undefined, reasons: ['unlabelled', 'restart-unless-stopped', 'named-like-an-instance', 'no-mounts', 'image-process'] }, 'no ports: no port evidence, still taken')
  t.ok(asLegacy(container({ networkMode: 'bridge' }), judged), "Docker's bridge")
  t.ok(asLegacy(container({ networkMode: 'agentopia-mcp-group-1', labels: agentopiaLabels }), judged), "its MCP group's network")
  t.match(asLegacy(container({ labels: agentopiaLabels, restartPolicy: 'no' }), judged), { instanceName: 'My MCP', accountToolInstanceId: 'ati-1', reasons: ['agentopia-mcp-labels', 'no-mounts', 'image-process', 'publishes-ports'] }, 'its labels are the evidence: any restart policy')
})

t.test('anything more than image, env and ports is refused with a sentence', async (t) => {
  const refused: Array<[Partial<ContainerInfo>, string | RegExp]> = [
    [{ mounts: [{ type: 'volume', source: 'data', destination: '/data' }] }, 'it mounts volume data at /data: the earlier agent gave its tools no mounts, and a take-over would lose them'],
    [
      {
        mounts: [
          { type: 'bind', source: '/srv', destination: '/srv' },
          { type: 'volume', source: 'v', destination: '/v' }
        ]
      },
      /^it mounts bind \/srv at \/srv and 1 more:/
    ],
    [{ process: { ...imageProcess, cmd: ['redis-server', '--appendonly', 'yes'] } }, "it runs with a command of its own, not its image's: the earlier agent never set one, and a take-over would not carry it over"],
    [{ process: { ...imageProcess, entrypoint: ['/bin/sh'] } }, /entrypoint of its own/],
    [{ process: { ...imageProcess, user: 'root' } }, /user of its own/],
    [{ process: { ...imageProcess, workingDir: '/' } }, /working directory of its own/],
    [{ process: undefined }, 'what it runs is unknown'],
    [{ privileged: true }, 'it runs privileged: the earlier agent never did, and the sandbox does not allow it'],
    [{ networkMode: 'host' }, "it runs on network 'host', where the earlier agent never put a tool"],
    [{ labels: { 'com.example.team': 'web', maintainer: 'x' } }, 'it carries labels of its own (com.example.team), and the earlier agent set none'],
    [{ restartPolicy: 'always' }, "its restart policy is 'always', and the earlier agent always set 'unless-stopped'"],
    [{ restartPolicy: undefined }, "its restart policy is 'no', and the earlier agent always set 'unless-stopped'"],
    [{ name: '-bad' }, 'its name is not one an instance can have'],
    [{ name: 'dtma_manager' }, 'it is an agent container'],
    [{ labels: agentopiaLabels, mounts: [{ type: 'volume', source: 'd', destination: '/d' }] }, /^it mounts volume d at \/d/]
  ]
  for (const [overrides, whyNot] of refused) {
    const verdict = judgeContainer(container(overrides), judged)
    t.match(verdict?.whyNot, whyNot, typeof whyNot === 'string' ? whyNot : whyNot.source)
    t.equal(asLegacy(container(overrides), judged), undefined, 'and never acted on')
  }
  t.equal(judgeContainer(container({}), { ...judged, image: { labels: {}, env: [], process: undefined } })?.whyNot, 'its image mcp/context7 is gone, so what it runs cannot be told from what its image runs')
  t.equal(judgeContainer(container({ labels: { 'dtma.managed': 'true' } }), judged), undefined, "DTMA's own containers are not judged at all")
  t.match(judgeContainer(container({ labels: { 'agentopia.mcp.server': 'true' } }), judged), { whyNot: /labels of its own \(agentopia\.mcp\.server\)/ }, 'an MCP label without an id is no evidence')
})

t.test('slots: never more at once than the bound, all in the end', async (t) => {
  const slots = new Slots(3)
  let running = 0
  let most = 0
  const done = await Promise.all(
    Array.from({ length: 10 }, (_, index) =>
      slots.run(async () => {
        running++
        most = Math.max(most, running)
        await new Promise((resolve) => setTimeout(resolve, 5))
        running--
        if (index === 4) throw new Error('one fails')
        return index
      }).catch(() => -1)
    )
  )
  t.equal(most, 3)
  t.same(done, [0, 1, 2, 3, -1, 5, 6, 7, 8, 9], 'a failure frees its slot')
})
