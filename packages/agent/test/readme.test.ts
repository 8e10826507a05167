// README.md is the front door: its API table must match the contract's route
// table and its config table must list every setting the agent reads.
import { readFileSync } from 'node:fs'
import { routes } from '@dtma/contract'
import t from 'tap'
import { ConfigSchema } from '../src/config-schema.ts'

const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')

function tableRows(marker: string): string[][] {
  const section = readme.split(`<!-- ${marker}:start -->`)[1]?.split(`<!-- ${marker}:end -->`)[0] ?? ''
  return section
    .split('\n')
    .filter((line) => line.startsWith('|') && !line.startsWith('|---'))
    .slice(1)
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim().replace(/`/g, '')))
}

t.test('the API table is the route table', async (t) => {
  const documented = tableRows('api-table').map(([method, path, auth]) => `${method} ${path} ${auth}`).sort()
  const declared = Object.values(routes).map((route) => `${route.method} ${route.path} ${route.auth}`).sort()
  t.same(documented, declared)
})

t.test('the config table lists every setting', async (t) => {
  const documented = tableRows('config-table').map(([setting]) => setting).sort()
  t.same(documented, Object.keys(ConfigSchema.properties).sort())
})
