// A request body checked against a typebox schema of the contract (or of a
// function): the typed value, or a 400 that names each failing field and
// rule, never the value, which may be a secret.
import type { Static, TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { FunctionErrorCode, HttpError } from './http.ts'

const MAX_PROBLEMS = 5

export function validated<T extends TSchema>(schema: T, body: unknown, what: string): Static<T> {
  if (Value.Check(schema, body)) return body
  // A union reports one line per member: the same field and rule once is enough.
  const problems = [...new Set([...Value.Errors(schema, body)].map((problem) => `${problem.instancePath || 'body'}: ${problem.message}`))]
  throw new HttpError(400, FunctionErrorCode.badRequest, `Invalid ${what}: ${problems.slice(0, MAX_PROBLEMS).join('; ')}`)
}
