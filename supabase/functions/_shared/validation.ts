// A request body checked against a typebox schema of the contract (or of a
// function): the typed value, or a 400 that names each failing field and
// rule, never the value, which may be a secret. Each schema is compiled
// once (typebox's Compile: a generated check where the runtime allows code
// generation, its interpreter otherwise): a heartbeat's 20 tool statuses
// are checked on every call of a fleet, and the interpreter walking the
// schema was most of a function's CPU (bench/fleet, profiled).
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Value } from 'typebox/value'
import { FunctionErrorCode, HttpError } from './http.ts'

const MAX_PROBLEMS = 5
const compiled = new WeakMap<TSchema, { Check(value: unknown): boolean }>()

function validatorOf(schema: TSchema): { Check(value: unknown): boolean } {
  let validator = compiled.get(schema)
  if (validator === undefined) compiled.set(schema, (validator = Compile(schema)))
  return validator
}

export function validated<T extends TSchema>(schema: T, body: unknown, what: string): Static<T> {
  if (validatorOf(schema).Check(body)) return body as Static<T>
  // A union reports one line per member: the same field and rule once is enough.
  const problems = [...new Set([...Value.Errors(schema, body)].map((problem) => `${problem.instancePath || 'body'}: ${problem.message}`))]
  throw new HttpError(400, FunctionErrorCode.badRequest, `Invalid ${what}: ${problems.slice(0, MAX_PROBLEMS).join('; ')}`)
}
