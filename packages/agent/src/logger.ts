// pino with secrets redacted by configuration, not by care: tokens, env
// values and request bodies (which carry env values) never reach a log line.
// Each line goes to the destination (stdout in production) and, when given,
// to the agent's own log tail (GET /logs).
import pino, { type DestinationStream, type Logger } from 'pino'
import { redactQueryCredentials } from './credentials/query-token.ts'
import type { LogTail } from './log-tail.ts'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'vmToken',
  'backendApiKey',
  'serviceRoleKey',
  '*.serviceRoleKey',
  'enrolmentToken',
  '*.enrolmentToken',
  'dtma_bearer_token',
  '*.dtma_bearer_token',
  'env',
  '*.env',
  'Env',
  'mcpAuth',
  '*.mcpAuth',
  '*.Env',
  'body',
  'req.body'
]

export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true }), tail?: LogTail): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'dtma' }, serializers: { req: requestLine } }
  if (tail === undefined || level === 'silent') return pino(options, destination)
  const streamLevel = level as pino.Level
  return pino(options, pino.multistream([{ level: streamLevel, stream: destination }, { level: streamLevel, stream: tail }]))
}

/** What a request's log lines say of it (Fastify's fields), its URL with any credential in the query masked. */
function requestLine(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }): Record<string, unknown> {
  return { method: req.method, url: req.url === undefined ? undefined : redactQueryCredentials(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}
