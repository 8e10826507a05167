// Names on /mcp without a server: the prefix rule (sanitized, shortened, a
// hash only on collision, kept in the store across a reopen and freed when
// the instance goes) and the name rule (every name valid, two names of one
// server never the same, two servers' names never the same, the way back).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { catalogOf } from '../../src/gateway/catalog.ts'
import { gatewayName, parseGatewayUri, prefixOfName } from '../../src/gateway/names.ts'
import { basePrefix, freePrefix, GATEWAY_NAME } from '../../src/model/mcp-prefix.ts'
import { InstanceStore } from '../../src/store/instance-store.ts'

t.test('a prefix is the instance name sanitized and shortened, with a hash only on collision', async (t) => {
  const cases: Array<[string, string]> = [
    ['github', 'github'],
    ['My Notion (work)', 'My-Notion-work'],
    ['__x__', 'x'],
    ['ünïcode only ✓', 'n-code-only'],
    ['...', 'mcp'],
    ['a'.repeat(100), 'a'.repeat(24)]
  ]
  for (const [name, expected] of cases) t.equal(basePrefix(name), expected, `${JSON.stringify(name)} -> ${expected}`)
  const taken = new Set(['My-Notion-work'])
  const second = freePrefix('My Notion work', taken)
  t.match(second, /^My-Notion-work-[0-9a-f]{6}$|^My-Notion-wo[a-zA-Z-]*-[0-9a-f]{6}$/, `a collision gets a hash: ${second}`)
  t.ok(second.length <= 24 && !second.includes('_'), 'within 24 characters, no `_`')
  t.not(freePrefix('My Notion work', new Set([...taken, second])), second, 'and another one when that is taken too')
})

t.test('the store keeps each prefix across a reopen, and frees it when the instance goes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dtma-prefix-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = new InstanceStore(dir)
  const a = first.prefixes.prefixOf('my tool')
  const b = first.prefixes.prefixOf('my.tool')
  t.equal(a, 'my-tool', 'the first gets the plain prefix')
  t.not(b, a, 'the second a prefix of its own')
  first.close()
  const again = new InstanceStore(dir)
  t.teardown(() => again.close())
  t.equal(again.prefixes.prefixOf('my.tool'), b, 'after a reopen, in the other order, each keeps its own')
  t.equal(again.prefixes.prefixOf('my tool'), a, 'both')
  again.prefixes.release('my tool')
  t.equal(again.prefixes.prefixOf('my_tool'), 'my-tool', 'a released prefix is free for a new instance')
})

t.test('every name on /mcp is valid, unique, and leads back to its server and its own name', async (t) => {
  const long = 'x'.repeat(80)
  const names = ['echo', 'get.weather', 'a:b', long, `${long}y`, 'ü', '']
  const prefix = 'a'.repeat(24)
  const made = names.map((name) => gatewayName(prefix, name))
  t.same(made.filter((name) => !GATEWAY_NAME.test(name)), [], `all valid: ${made.join(' ')}`)
  t.equal(new Set(made).size, made.length, 'no two the same')
  t.equal(gatewayName('gh', 'echo'), 'gh_echo', 'a valid name is kept as it is')
  t.ok(made.every((name) => prefixOfName(name) === prefix), 'the first `_` ends the prefix')
  const server = (instanceName: string, prefix: string) => ({ instanceName, accountToolInstanceId: instanceName, prefix, ready: true, revision: '' })
  const offer = (uris: string[]) => ({ tools: [{ name: 'echo' }], resources: uris.map((uri) => ({ uri, name: uri })), templates: [], prompts: [] })
  const catalog = catalogOf([
    { server: server('two', 'b'), offer: offer(['file:///same', 'file:///b-only']) },
    { server: server('one', 'a'), offer: offer(['file:///same']) }
  ])
  t.same(catalog.tools.map((tool) => tool.name), ['a_echo', 'b_echo'], 'servers in the order of their prefixes')
  t.same(catalog.resources.map((resource) => resource.uri), ['mcp+a:file:///same', 'mcp+b:file:///same', 'file:///b-only'], 'a URI two servers list is named under each prefix; the others kept')
  t.same(parseGatewayUri('mcp+b:file:///same'), { prefix: 'b', uri: 'file:///same' }, 'and read back')
  t.equal(catalog.resourceRoutes.get('file:///b-only')?.server.instanceName, 'two', 'each URI routed to its server')
})
