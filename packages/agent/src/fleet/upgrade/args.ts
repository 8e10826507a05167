// dtma-upgrade's command line (node:util parseArgs): every mistake is a usage
// error before anything is touched.
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { AGENT_CONTAINER_NAME } from '../legacy/earlier-agent.ts'
import type { UpgradeOptions } from './upgrade.ts'

export const USAGE = `Usage: dtma-upgrade --image IMAGE [options]

Upgrades the DTMA agent container on this host in place (this agent's, or an
earlier agent's dtma_manager): backs up its config and store, starts IMAGE
with the same settings and a named data volume, waits for /health/ready and
a smoke test, and rolls back to the previous agent on any failure. Tool
containers keep running throughout. Run it where it reaches the Docker
socket and the agent's published port:

  docker run --rm --network host -v /var/run/docker.sock:/var/run/docker.sock \\
    -v /var/backups/dtma:/var/backups/dtma IMAGE dtma-upgrade --image IMAGE

Options:
  --image IMAGE          the agent image to run (required)
  --container NAME       the agent container (default ${AGENT_CONTAINER_NAME})
  --pull WHEN            always, missing (default) or never
  --timeout SECONDS      deadline for the new agent to be ready and pass the smoke test (default 120)
  --backup-dir DIR       where the dated backups go (default /var/backups/dtma)
  --data-volume NAME     the named volume of the store (default dtma-data)
  --url URL              the agent's address from here (default: its published port on 127.0.0.1)
  --socket PATH          the Docker socket (default /var/run/docker.sock)
  --json                 one JSON line per step (the UpgradeEvent of the contract)
  --operation-id ID      names the upgrade in its events (default a new uuid)
  -h, --help             this text

Exit codes: 0 upgraded, 1 not upgraded (rolled back, or nothing was changed), 2 usage, 3 failed and the previous agent does not answer.`

export interface Invocation {
  help: boolean
  json: boolean
  socket: string
  operationId: string
  upgrade: UpgradeOptions
}

export class UsageError extends Error {
  override name = 'UsageError'
}

export function parseInvocation(argv: string[]): Invocation {
  let values
  try {
    ;({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        image: { type: 'string' },
        container: { type: 'string' },
        pull: { type: 'string' },
        timeout: { type: 'string' },
        'backup-dir': { type: 'string' },
        'data-volume': { type: 'string' },
        url: { type: 'string' },
        socket: { type: 'string' },
        json: { type: 'boolean' },
        'operation-id': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }))
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const help = values.help === true
  if (!help && (values.image === undefined || values.image === '')) throw new UsageError('--image IMAGE is required')
  const pull = values.pull ?? 'missing'
  if (pull !== 'always' && pull !== 'missing' && pull !== 'never') throw new UsageError(`--pull takes always, missing or never, not '${pull}'`)
  const timeout = values.timeout ?? '120'
  if (!/^[0-9]{1,5}$/.test(timeout) || Number(timeout) < 5) throw new UsageError(`--timeout takes whole seconds, at least 5, not '${timeout}'`)
  if (values.url !== undefined && !URL.canParse(values.url)) throw new UsageError(`--url is not a URL: '${values.url}'`)
  return {
    help,
    json: values.json === true,
    socket: values.socket ?? '/var/run/docker.sock',
    operationId: values['operation-id'] ?? randomUUID(),
    upgrade: {
      container: values.container ?? AGENT_CONTAINER_NAME,
      image: values.image ?? '',
      pull,
      timeoutMs: Number(timeout) * 1000,
      backupDir: values['backup-dir'] ?? '/var/backups/dtma',
      dataVolume: values['data-volume'] ?? 'dtma-data',
      ...(values.url !== undefined && { url: values.url })
    }
  }
}
