// The body of a deploy request from the frontend, validated before any row
// is written or the agent is called. Names and images use the contract's own
// schemas, so what passes here also passes the agent's validation.
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { ImageReference, InstanceName } from '../../../packages/contract/src/index.ts'
import { FunctionErrorCode, HttpError } from '../_shared/http.ts'

const EnvName = Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', maxLength: 256 })

export const DeployRequest = Type.Object({
  toolCatalogId: Type.String({ minLength: 1, maxLength: 128 }),
  instanceNameOnToolbox: InstanceName,
  baseConfigOverrideJson: Type.Optional(
    Type.Object({
      dockerImage: Type.Optional(ImageReference),
      environmentVariables: Type.Optional(
        Type.Record(EnvName, Type.String({ maxLength: 32768 }), { additionalProperties: false, maxProperties: 256 })
      ),
      /** The port the MCP server listens on inside its container. */
      containerPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 }))
    })
  )
})
export type DeployRequest = Static<typeof DeployRequest>

export function parseDeployRequest(body: unknown): DeployRequest {
  if (Value.Check(DeployRequest, body)) return body
  // Name the field and the rule, never the value: it may be a secret.
  const problems = [...Value.Errors(DeployRequest, body)].map((problem) => `${problem.instancePath || 'body'}: ${problem.message}`)
  throw new HttpError(400, FunctionErrorCode.badRequest, `Invalid deploy request: ${problems.join('; ')}`)
}
