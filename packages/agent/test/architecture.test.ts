// docs/architecture.md kept true: the arrows that must never exist between
// the agent's rooms are checked on every import of every source file, and
// the packages that belong to one room are imported from that room only.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    return entry.isDirectory() ? sourceFiles(path) : entry.name.endsWith('.ts') ? [relative(SRC, path)] : []
  })
}

/** Every import of a file, loaded at its start or later (import('...'), a require made with createRequire): relative ones as paths under src/, packages as their names. */
function importsOf(file: string): { modules: string[]; packages: string[] } {
  const text = readFileSync(join(SRC, file), 'utf8')
  const specifiers = [
    ...text.matchAll(/^(?:import|export)\b[^'"]*?from '([^']+)'/gm),
    ...text.matchAll(/\bimport\('([^']+)'\)/g),
    ...text.matchAll(/\b(?:require|createRequire\([^)]*\))\('([^']+)'\)/g)
  ].map((match) => match[1] as string)
  return {
    modules: specifiers.filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file), s))),
    packages: specifiers.filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
  }
}

/** [the importing files, what they must never import, why] */
const FORBIDDEN: Array<[RegExp, RegExp, string]> = [
  [/^runtime\//, /^(?!runtime\/|errors\.ts$)/, 'the runtime knows nothing of HTTP, the store or the domain'],
  [/^model\//, /^(?!model\/|runtime\/types\.ts$)/, 'model holds leaf types'],
  [/^store\//, /^(?!store\/|model\/|runtime\/types\.ts$)/, 'the store imports no domain module'],
  [/^config\.ts$/, /^(?!config-schema\.ts$|model\/mcp-config\.ts$)/, 'config imports nothing of DTMA but its schema and the MCP settings leaf (no runtime type)'],
  [/^config-schema\.ts$/, /./, 'the settings schema is a leaf'],
  [
    /^(app\.ts|http-server\.ts|routes\/|plugins\/)/,
    /^(runtime\/|store\/|compose\.ts$|registry\/|heartbeat\/|instances\/instance-service\.ts$|fleet\/(?!fleet-api\.ts$)|mcp\/(?!mcp-api\.ts$|mux-session\.ts$)|gateway\/(?!gateway-api\.ts$))/,
    'the HTTP app holds no Docker type and builds no service; of the fleet it knows FleetApi, of the MCP side McpApi and the session pipe, of the gateway GatewayApi'
  ],
  [/^instances\//, /^(routes\/|plugins\/|app\.ts$|http-server\.ts$|compose\.ts$|registry\/|heartbeat\/|metrics\/|mcp\/|runtime\/docker\/|config(-schema)?\.ts$|fleet\/)/, 'the domain never reaches up, into the fleet or MCP, or into the Docker adapter'],
  [
    /^mcp\//,
    /^(routes\/|plugins\/|app\.ts$|http-server\.ts$|compose\.ts$|config(-schema)?\.ts$|store\/|registry\/|heartbeat\/|metrics\/|fleet\/|runtime\/(?!types\.ts$)|instances\/(?!instance-api\.ts$|view\.ts$))/,
    'the MCP side observes the domain (InstanceApi, views) and reaches containers only through the runtime interface'
  ],
  [/^(?!compose\.ts$|mcp\/)/, /^mcp\/mcp-service\.ts$/, 'only the composition root builds the MCP service'],
  [/^(mcp|instances)\//, /^gateway\//, 'the aggregated endpoint is a client of the MCP side, never the other way'],
  [
    /^gateway\//,
    /^(?!gateway\/|errors\.ts$|mcp\/(mcp-api|pipe-transport|listing|tool-grant)\.ts$)/,
    'the gateway reaches servers through McpApi (the per-instance path: grant, drift lock, audit), never the multiplexer, the domain or the store'
  ],
  [/^(?!compose\.ts$|gateway\/)/, /^gateway\/gateway-service\.ts$/, 'only the composition root builds the gateway'],
  // The fleet uses the domain (take-over) and the runtime's types; the upgrader is a program of its own.
  [/^fleet\//, /^(routes\/|plugins\/|app\.ts$|http-server\.ts$|compose\.ts$|registry\/|heartbeat\/|metrics\/|mcp\/|config(-schema)?\.ts$|instances\/instance-service\.ts$)/, 'the fleet never reaches up into the app, the composition root or the MCP side'],
  [/^fleet\/upgrade\/(?!redeployer\.ts$)/, /^(instances\/|store\/)/, 'the upgrader drives Docker and HTTP, never the domain or the store'],
  // The registry's outbox shares the store's SQLite file (store/sqlite.ts opens it), never its records.
  [/^(registry|heartbeat|metrics)\//, /^(routes\/|plugins\/|app\.ts$|compose\.ts$|runtime\/docker\/|store\/(?!sqlite\.ts$))/, 'the reporters observe the domain'],
  [/^(?!compose\.ts$|fleet\/upgrade\/main\.ts$|runtime\/docker\/)/, /^runtime\/docker\//, "only the composition roots (the agent's, the upgrader's) build a Docker adapter"],
  [/./, /^server\.ts$/, 'nothing imports the entry point'],
  [
    /^netpolicy\//,
    /^(routes\/|plugins\/|app\.ts$|http-server\.ts$|compose\.ts$|config(-schema)?\.ts$|store\/|registry\/|heartbeat\/|metrics\/|mcp\/|fleet\/|runtime\/(?!types\.ts$|labels\.ts$)|instances\/(?!instance-api\.ts$|view\.ts$))/,
    'the network policy observes the domain and reaches Docker only through the runtime interface'
  ],
  [/^(app\.ts|http-server\.ts|routes\/|plugins\/|metrics\/)/, /^netpolicy\/(?!netpolicy-api\.ts$)/, 'the HTTP app and the metrics know the network policy by its interface only'],
  [/^(?!compose\.ts$|netpolicy\/)/, /^netpolicy\/enforcer\.ts$/, 'only the composition root builds the enforcer'],
  [/^tls\//, /^(?!tls\/|atomic-file\.ts$)/, 'the TLS room knows no HTTP framework, service or setting: the composition root hands it what it needs'],
  [/^atomic-file\.ts$/, /./, 'the atomic write is a leaf'],
  [
    /^credentials\//,
    /^(routes\/|plugins\/|app\.ts$|http-server\.ts$|compose\.ts$|runtime\/|store\/|registry\/|heartbeat\/|metrics\/|mcp\/|fleet\/|netpolicy\/|instances\/(?!instance-api\.ts$))/,
    'the credential check knows the config, the contract and the domain\'s interface (a name -> instance id look-up), nothing of HTTP or Docker'
  ],
  [/^(?!credentials\/|plugins\/app\/auth\.ts$)/, /^credentials\/(?!grant\.ts$|query-token\.ts$)/, 'of the credential check, the rest of the agent reads only the grant (and the logger the query-string mask)'],
  [
    /^audit\//,
    /^(routes\/|plugins\/|app\.ts$|http-server\.ts$|compose\.ts$|config(-schema)?\.ts$|registry\/|heartbeat\/|mcp\/|fleet\/|netpolicy\/|credentials\/|runtime\/|store\/(?!sqlite\.ts$)|instances\/(?!instance-api\.ts$|view\.ts$))/,
    'the audit trail keeps what the MCP side tells it (model/call-record.ts) in its own table of the store\'s file, and knows nothing of HTTP, MCP or Docker'
  ],
  [/^(app\.ts|http-server\.ts|routes\/|plugins\/|mcp\/|instances\/)/, /^audit\/(?!audit-api\.ts$)/, 'the HTTP app knows the audit trail by its interface only; the MCP side tells it through model/call-record.ts']
]

/** Packages that belong to one room. */
const PACKAGE_ROOMS: Array<[RegExp, RegExp]> = [
  [/^dockerode$/, /^runtime\/docker\//],
  [/^(fastify|fastify-plugin|@fastify\/.*)$/, /^(app\.ts|http-server\.ts|compose\.ts|routes\/|plugins\/)/],
  [/^@supabase\/supabase-js$/, /^registry\//],
  [/^@modelcontextprotocol\/sdk(\/|$)/, /^(mcp\/|routes\/mcp|gateway\/)/],
  [/^@modelcontextprotocol\/(server|client)(\/|$)/, /^gateway\//],
  [/^node-forge$/, /^tls\/certificate\.ts$/],
  [/^jose$/, /^credentials\//]
]

t.test('no source file imports across a forbidden arrow', async (t) => {
  const files = sourceFiles()
  t.ok(files.length > 40, `${files.length} source files read`)
  const broken: string[] = []
  for (const file of files) {
    const { modules, packages } = importsOf(file)
    for (const target of modules) {
      for (const [from, to, why] of FORBIDDEN) if (from.test(file) && to.test(target)) broken.push(`${file} -> ${target}: ${why}`)
    }
    for (const name of packages) {
      for (const [pkg, room] of PACKAGE_ROOMS) if (pkg.test(name) && !room.test(file)) broken.push(`${file} imports ${name}, which belongs to ${room}`)
    }
  }
  t.same(broken, [])
})

t.test('the rule itself sees a broken arrow', async (t) => {
  // A check that cannot fail proves nothing: the store importing the domain is caught.
  const caught = FORBIDDEN.filter(([from, to]) => from.test('store/instance-store.ts') && to.test('instances/spec.ts'))
  t.equal(caught.length, 1)
  // And the MCP side reaching past the runtime's interface into the Docker adapter, or the domain into it.
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('mcp/stdio-link.ts') && to.test('runtime/docker/attach.ts')).length, 2)
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('instances/view.ts') && to.test('mcp/health-board.ts')).length, 1)
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('routes/mcp.ts') && to.test('mcp/http-proxy.ts')).length, 1)
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('netpolicy/enforcer.ts') && to.test('runtime/docker/containers.ts')).length, 2)
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('routes/tools.ts') && to.test('netpolicy/enforcer.ts')).length, 2)
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('mcp/granted-pipe.ts') && to.test('audit/audit-trail.ts')).length, 1)
  t.equal(FORBIDDEN.filter(([from, to]) => from.test('audit/audit-log.ts') && to.test('store/instance-store.ts')).length, 1)
})

t.test('an import made later is read like one made at the start', async (t) => {
  // A module loaded at first use (lazy) crosses the same arrows: the reader must see it.
  const seen = importsOf('compose.ts').modules
  t.ok(seen.includes('gateway/gateway-service.ts'), `compose.ts's import('./gateway/gateway-service.ts') seen: ${seen.filter((m) => m.startsWith('gateway/')).join(', ')}`)
  t.ok(importsOf('tls/certificate.ts').packages.includes('node-forge'), 'the require of node-forge seen')
  t.ok(importsOf('registry/supabase-target.ts').packages.includes('@supabase/supabase-js'), "the import('@supabase/supabase-js') seen")
})

t.test('rooms stay small: no source file over 300 lines, the composition and app pieces under their bounds', async (t) => {
  const lines = (file: string) => readFileSync(join(SRC, file), 'utf8').split('\n').length
  for (const file of sourceFiles()) t.ok(lines(file) <= 300, `${file}: ${lines(file)} lines`)
  t.ok(lines('app.ts') < 60, `app.ts: ${lines('app.ts')} lines`)
  t.ok(lines('instances/instance-service.ts') < 200, `instance-service.ts: ${lines('instances/instance-service.ts')} lines`)
  t.ok(lines('runtime/docker/docker-runtime.ts') < 200, `docker-runtime.ts: ${lines('runtime/docker/docker-runtime.ts')} lines`)
})
