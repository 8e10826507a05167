#!/usr/bin/env node
// Where a process's CPU went, from a V8 .cpuprofile (node --cpu-prof): the
// self time of every sampled function, grouped into named buckets by the
// script it lives in (its callFrame's url; V8's own entries and builtins by
// name), printed as markdown: a table of % self time per bucket, then the top
// functions by self time. Idle samples are left out of the percentages (the
// process waited); so is everything before the first sample whose stack holds
// the --from script (default: the MCP hot path, routes/mcp-direct), so the
// agent's start and the deploy do not count.
//   node bench/profile-summary.mjs /tmp/lean-prof/CPU.*.cpuprofile [--top 15] [--from routes/mcp-direct]
import { readFileSync } from 'node:fs'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const at = args.indexOf(name)
  if (at === -1) return fallback
  const [, value] = args.splice(at, 2)
  return value
}
const top = Number(option('--top', 15))
const from = option('--from', 'routes/mcp-direct')
if (args.length !== 1) {
  process.stderr.write('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--from URL-PART]\n')
  process.exit(2)
}

/** Buckets in the order they are tried: the first whose test holds names the frame. */
const BUCKETS = [
  ['GC', (url, fn) => fn === '(garbage collector)'],
  ['fastify routing/hooks', (url) => /node_modules\/(fastify|find-my-way|avvio|@fastify|fastify-plugin|light-my-request|toad-cache|abstract-logging)\//.test(url) && !/content-type-parser|validation/.test(url)],
  ['body parsing and validation', (url) => /node_modules\/(secure-json-parse|ajv|fast-uri|fast-json-stringify|typebox)\/|fastify\/lib\/(content-type-parser|validation)|plugins\/app\/json-body/.test(url)],
  ['auth/token', (url) => /\/credentials\/|plugins\/app\/(auth|transport-gate)|node_modules\/jose\//.test(url)],
  ['routes/mcp* + mux + stdio link', (url) => /\/dist\/(routes\/mcp|mcp\/)/.test(url)],
  ['MCP SDK', (url) => /@modelcontextprotocol\//.test(url)],
  ['zod', (url) => /node_modules\/zod/.test(url)],
  ['JSON', (url, fn) => url === '' && /^(stringify|parse|JSONStringify|JSONParse|SerializeJSON)$/.test(fn)],
  ['socket writes (write syscalls)', (url, fn) => /^(writev|writeUtf8String|writeBuffer|writeLatin1String|writeAsciiString)$/.test(fn)],
  ['node http (parser, headers, responses)', (url) => /node:(_http_|http$|internal\/http)/.test(url)],
  ['net/streams/events/ticks', (url) => /node:(net|stream|events|internal\/(streams|stream_base_commons|net|timers|async_hooks|process\/task_queues|event_target))/.test(url)],
  ['dockerode/attach', (url) => /node_modules\/(dockerode|docker-modem)\/|\/dist\/runtime\//.test(url)],
  ['pino', (url) => /node_modules\/(pino|sonic-boom|thread-stream)|\/dist\/logger\.js/.test(url)],
  ['metrics (prom-client)', (url) => /node_modules\/(prom-client|tdigest|bintrees)\/|\/dist\/metrics\/|plugins\/app\/metrics/.test(url)],
  ['audit trail (sqlite)', (url) => /\/dist\/(audit|store)\/|node:sqlite/.test(url)],
  ['other DTMA', (url) => /\/dist\//.test(url)],
  ['V8/native (program)', (url, fn) => fn === '(program)'],
  ['other', () => true]
]
/** Node's own helpers counted where they were called from (a hash of the credential check is the check's). */
const BY_CALLER = /^node:internal\/(crypto|url|util|validators|errors)|^node:(crypto|url|util|buffer)$/

const profile = JSON.parse(readFileSync(args[0], 'utf8'))
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const parentOf = new Map()
for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id)
const shortUrl = (url) => url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/packages\/agent\/dist\//, 'dist/')

/** The nearest frame in DTMA or a package (not Node's own, not a builtin) that led to this one. */
const callerOf = (id) => {
  for (let at = parentOf.get(id); at !== undefined; at = parentOf.get(at)) {
    const { url } = byId.get(at).callFrame
    if (url !== '' && !url.startsWith('node:')) return at
  }
  return undefined
}
const stackHolds = (id, part) => {
  for (let at = id; at !== undefined; at = parentOf.get(at)) if (byId.get(at).callFrame.url.includes(part)) return true
  return false
}

// A sample's time is the delta to the next one (Chrome DevTools' convention); the last sample gets the mean.
const { samples, timeDeltas } = profile
const meanDelta = (profile.endTime - profile.startTime) / Math.max(1, samples.length)
const self = new Map()
let counting = from === ''
let idle = 0
let total = 0
let firstAt = 0
let elapsed = 0
for (let i = 0; i < samples.length; i++) {
  elapsed += timeDeltas[i]
  if (!counting && stackHolds(samples[i], from)) {
    counting = true
    firstAt = elapsed
  }
  if (!counting) continue
  const time = i + 1 < samples.length ? timeDeltas[i + 1] : meanDelta
  const node = byId.get(samples[i])
  if (node.callFrame.functionName === '(idle)') {
    idle += time
    continue
  }
  total += time
  self.set(node.id, (self.get(node.id) ?? 0) + time)
}
if (total === 0) {
  process.stderr.write(`no sample after the first one in ${from}\n`)
  process.exit(1)
}

const buckets = new Map(BUCKETS.map(([name]) => [name, 0]))
const functions = new Map()
for (const [id, time] of self) {
  const { functionName, url, lineNumber } = byId.get(id).callFrame
  const caller = callerOf(id)
  const judged = BY_CALLER.test(url) && caller !== undefined ? byId.get(caller).callFrame : { url, functionName }
  const [bucket] = BUCKETS.find(([, test]) => test(judged.url, judged.functionName))
  buckets.set(bucket, buckets.get(bucket) + time)
  const key = `${functionName || '(anonymous)'} ${url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`}`.trim()
  const entry = functions.get(key) ?? { key, bucket, time: 0, callers: new Map() }
  if (caller !== undefined) {
    const frame = byId.get(caller).callFrame
    const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}`
    entry.callers.set(name, (entry.callers.get(name) ?? 0) + time)
  }
  entry.time += time
  functions.set(key, entry)
}

const pct = (time) => ((time / total) * 100).toFixed(1)
const ms = (time) => (time / 1000).toFixed(0)
console.log(`Profile ${args[0].split('/').at(-1)}: ${ms(total)} ms of CPU sampled from ${(firstAt / 1e6).toFixed(1)} s on (the first sample in ${from || 'the profile'}), ${ms(idle)} ms idle left out.\n`)
console.log('| where (self time) | % of CPU | ms |\n|---|---|---|')
for (const [name, time] of [...buckets].sort((a, b) => b[1] - a[1])) if (time > 0) console.log(`| ${name} | ${pct(time)} | ${ms(time)} |`)
console.log(`\n| top ${top} functions by self time | bucket | % of CPU | mostly from (nearest DTMA or package frame) |\n|---|---|---|---|`)
const cell = (text) => `\`${text.replaceAll('|', '\\|')}\``
for (const { key, bucket, time, callers } of [...functions.values()].sort((a, b) => b.time - a.time).slice(0, top)) {
  const [[caller, share] = ['', 0]] = [...callers].sort((a, b) => b[1] - a[1])
  const from = caller === '' || !/^(node:|\()/.test(key.split(' ')[1] ?? '(') ? '' : `${cell(caller)} (${Math.round((share / time) * 100)}%)`
  console.log(`| ${cell(key)} | ${bucket} | ${pct(time)} | ${from} |`)
}
