// The body of a deploy request from the frontend (adminMCPService sends
// { toolCatalogId, instanceNameOnToolbox, baseConfigOverrideJson: { dockerImage,
// environmentVariables, portMappings } }), validated before any row is
// written or the agent is called. The name and the override use the
// contract's own schemas, so what passes here is what the agent takes; the
// agent judges the override's unknown keys (ignored and named in warnings,
// or refused when they are Docker fields).
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { BaseConfigOverride, ImageReference, InstanceName } from '../../../packages/contract/src/index.ts'
import { FunctionErrorCode, HttpError } from '../_shared/http.ts'
import { validated } from '../_shared/validation.ts'

export const DeployRequest = Type.Object({
  toolCatalogId: Type.String({ minLength: 1, maxLength: 128 }),
  instanceNameOnToolbox: InstanceName,
  baseConfigOverrideJson: Type.Optional(Type.Union([BaseConfigOverride, Type.Null()]))
})
export type DeployRequest = Static<typeof DeployRequest>

export function parseDeployRequest(body: unknown): DeployRequest {
  const request = validated(DeployRequest, body, 'deploy request')
  // The override's image is the one that runs (the catalog's is the fallback), so it must be a Docker reference.
  const image = request.baseConfigOverrideJson?.dockerImage
  if (typeof image === 'string' && !Value.Check(ImageReference, image)) {
    throw new HttpError(400, FunctionErrorCode.badRequest, 'Invalid deploy request: /baseConfigOverrideJson/dockerImage: must be a Docker image reference ([registry/]repository[:tag][@sha256:digest])')
  }
  return request
}
