// The policy's one opening into private space: the host's nameservers on
// port 53, for `internet` and `{ allow }` tools, never for `none`. Tried
// through Docker's embedded DNS (127.0.0.11, what a tool's resolver uses) and
// straight at the host's nameserver. An agent with the policy off shows the
// nameserver answers at all; where it does not (a machine without DNS), there
// is nothing to tell apart and the cases are skipped.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'
import { freePort } from '../helpers/agent.ts'
import { startPolicyAgent, type Egress } from '../helpers/probe.ts'

const run = promisify(execFile)

/** "answered" when a nameserver replied (an address or NXDOMAIN), else "refused" with nslookup's words. */
async function lookup(containerId: string, server?: string): Promise<{ seen: 'reached' | 'refused'; detail: string }> {
  const args = ['exec', containerId, 'nslookup', '-timeout=2', '-retry=1', 'example.com', ...(server === undefined ? [] : [server])]
  const { stdout, stderr } = await run('docker', args, { timeout: 20_000 }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' }))
  const text = `${stdout}\n${stderr}`
  if (/NXDOMAIN|SERVFAIL|REFUSED|^Address:\s+[0-9a-f.:]+$/m.test(text.replace(/^Address:\s+\S+:53$/gm, ''))) return { seen: 'reached', detail: /NXDOMAIN|SERVFAIL|REFUSED/.exec(text)?.[0] ?? 'an address' }
  return { seen: 'refused', detail: text.trim().split('\n').pop()?.slice(0, 60) ?? '' }
}

t.test("the host's nameservers on port 53: internet and allow, not none", async (t) => {
  const nameserver = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))?.[1]
  if (nameserver === undefined || nameserver.startsWith('127.')) return t.skip('no IPv4 nameserver in /etc/resolv.conf that a tool would use', () => undefined)
  const [enforced, off] = await Promise.all([startPolicyAgent(t), startPolicyAgent(t, { env: { DTMA_NETWORK_POLICY: 'off' } })])
  const allow: Egress = { allow: ['203.0.113.10:80'] }
  const [internet, allowed, none, offProbe] = await Promise.all([enforced.tool('Dns Default'), enforced.tool('Dns Allow', allow), enforced.tool('Dns None', 'none', await freePort()), off.tool('Dns Off')])
  const control = await lookup(offProbe)
  t.comment(`example.com through 127.0.0.11 | off | reached | ${control.seen} (${control.detail})`)
  if (control.seen !== 'reached') return t.skip(`the nameserver ${nameserver} answers no tool here, even with the policy off`, () => undefined)
  const rows: Array<{ id: string; policy: string; expected: 'reached' | 'refused' }> = [
    { id: internet, policy: 'internet (default)', expected: 'reached' },
    { id: allowed, policy: 'allow 203.0.113.10:80', expected: 'reached' },
    { id: none, policy: 'none (with a port)', expected: 'refused' }
  ]
  for (const row of rows) {
    for (const server of [undefined, nameserver]) {
      const seen = await lookup(row.id, server)
      const line = `example.com through ${server ?? '127.0.0.11'} | ${row.policy} | ${row.expected} | ${seen.seen} (${seen.detail})`
      t.comment(line)
      t.equal(seen.seen, row.expected, line)
    }
  }
})
