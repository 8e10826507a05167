// pino with secrets redacted by configuration, not by care: tokens, env
// values and request bodies (which carry env values) never reach a log line.
import pino, { type DestinationStream, type Logger } from 'pino'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'apiTokens',
  'serviceRoleKey',
  '*.serviceRoleKey',
  'env',
  '*.env',
  'Env',
  '*.Env',
  'body',
  'req.body'
]

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'dtma' } }
  return destination ? pino(options, destination) : pino(options)
}
