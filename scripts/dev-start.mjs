#!/usr/bin/env node
// Runs DTMA for development against the local Docker engine: data in
// ./.dtma-data, a generated dev token printed once (kept in
// ./.dtma-data/dev-token, mode 0600), port 30000 unless PORT is set. It is
// the agent's supervisor here: an agent that exits to be restarted (POST
// /restart) is started again, as Docker's restart policy or systemd would.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dataDir = join(process.cwd(), '.dtma-data')
const tokenFile = join(dataDir, 'dev-token')
mkdirSync(dataDir, { recursive: true, mode: 0o700 })

let token
if (existsSync(tokenFile)) {
  token = readFileSync(tokenFile, 'utf8').trim()
  process.stdout.write(`DTMA dev token: in ${tokenFile}\n`)
} else {
  token = randomBytes(24).toString('base64url')
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 })
  process.stdout.write(`DTMA dev token (shown once, kept in ${tokenFile}):\n  ${token}\n`)
}

/** The agent's "exited to be started again" code (packages/agent/src/server.ts). */
const RESTART_EXIT_CODE = 75

let child
function startAgent() {
  child = spawn('packages/agent/bin/dtma-agent', [], {
    stdio: 'inherit',
    env: { BACKEND_TO_DTMA_API_KEY: token, DTMA_DATA_DIR: dataDir, ...process.env }
  })
  child.on('exit', (code) => (code === RESTART_EXIT_CODE ? startAgent() : process.exit(code ?? 1)))
}
startAgent()
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
